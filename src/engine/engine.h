// The SPMD loop every rank runs: the driver plans, everyone computes, the driver samples.
#pragma once
#include "comm/process_grid.h"
#include <functional>
#include <vector>

#include "engine/driver.h"
#include "model/opt.h"
#include "report/run_report.h"

namespace ls {

struct EngineStats {
    int64_t n_steps = 0;
    int64_t n_tokens = 0;        // tokens computed (prefill + decode)
    double seconds = 0;          // wall time of the loop
    double forward_seconds = 0;  // time inside model.forward (collectives included)
    double plan_wait_seconds = 0;  // in the plan broadcast: on workers, the driver's scheduling and sampling
    std::vector<StepRecord> steps;  // every step, as this rank saw it
};

// `driver` is non-null on world rank 0 only. Returns when the driver broadcasts the stop plan; `st` is
// filled as the loop goes (a failure report reads it mid-run).
// before_step (may be empty) runs on every rank before each step's forward: the fault-injection hook.
// max_in_flight: with pipeline stages, how many plans the driver keeps in the pipeline at once (vLLM keeps
// one per stage), each over sequences of its own; 1 = one batch at a time.
void run_engine(const ProcessGrid& grid, Backend& be, OptModel& model, KvCache& kv, Driver* driver, EngineStats& st,
                const std::function<void(int32_t)>& before_step = {}, int max_in_flight = 1);

}  // namespace ls
