// The SPMD loop every rank runs: the driver plans, everyone computes, the driver samples.
#pragma once
#include "comm/process_grid.h"
#include <functional>
#include <vector>

#include "engine/decode_graphs.h"
#include "engine/driver.h"
#include "engine/step_plan.h"
#include "model/opt.h"
#include "report/run_report.h"

namespace ls {

struct EngineStats {
    int64_t n_steps = 0;
    int64_t n_tokens = 0;        // tokens computed (prefill + decode)
    double seconds = 0;          // wall time of the loop
    double forward_seconds = 0;  // time inside model.forward (collectives included)
    double plan_wait_seconds = 0;  // in the plan broadcast: on workers, the driver's scheduling and sampling
    int64_t graph_steps = 0;       // steps run by replaying a CUDA graph
    std::vector<StepRecord> steps;  // every step, as this rank saw it
};

struct EngineLoopOptions {
    // Runs on every rank before each step's forward, on the plan it is about to execute: the fault-injection
    // hook (it may change the plan, to test --check-lockstep).
    std::function<void(int32_t step, StepPlan& plan)> before_step;
    // With pipeline stages, how many plans the driver keeps in the pipeline at once (vLLM keeps one per
    // stage), each over sequences of its own; 1 = one batch at a time.
    int max_in_flight = 1;
    bool check_lockstep = false;  // see lockstep_check.h
    DecodeGraphs* graphs = nullptr;  // CUDA graphs for decode steps, when captured
};

// `driver` is non-null on world rank 0 only. Returns when the driver broadcasts the stop plan; `st` is
// filled as the loop goes (a failure report reads it mid-run).
void run_engine(const ProcessGrid& grid, Backend& be, OptModel& model, KvCache& kv, Driver* driver, EngineStats& st,
                const EngineLoopOptions& opt);

}  // namespace ls
