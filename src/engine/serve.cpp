#include "engine/serve.h"

#include "comm/mpi_wait.h"
#include "engine/fault.h"
#include "engine/report_collect.h"

namespace ls {

EngineStats serve(const RunOptions& o, Runtime& rt, Driver* driver, const std::vector<Sequence>& requests,
                  int max_in_flight) {
    EngineStats st;
    const FaultSpec fault = parse_fault(o.inject_fault);
    auto hook = arm_incomplete_report(o, rt, st, &requests);
    try {
        set_wait_timeout(o.collective_timeout, "serving");
        maybe_corrupt_shard(fault, rt.grid.world_rank, *rt.model);
        maybe_inject_fault(fault, rt.grid.world_rank, -1);
        EngineLoopOptions lo;
        lo.before_step = [&](int32_t step, StepPlan& plan) {
            set_wait_step(step);
            maybe_inject_fault(fault, rt.grid.world_rank, step);
            maybe_diverge(fault, rt.grid.world_rank, step, plan);
        };
        lo.max_in_flight = max_in_flight;
        lo.check_lockstep = o.check_lockstep;
        lo.graphs = rt.graphs.get();
        run_engine(rt.grid, *rt.be, *rt.model, rt.kv, driver, st, lo);
        set_wait_step(-1);
    } catch (const std::exception& e) {
        fail(e.what());  // here, not in main: the incomplete report reads this frame's state
    }
    log_engine_stats(rt, st);
    write_report(o, rt, st, &requests);
    return st;
}

}  // namespace ls
