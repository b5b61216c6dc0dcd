// The SPMD loop every rank runs: the driver plans, everyone computes, the driver samples.
#pragma once
#include "comm/process_grid.h"
#include "engine/driver.h"
#include "model/opt.h"

namespace ls {

struct EngineStats {
    int64_t n_steps = 0;
    int64_t n_tokens = 0;        // tokens computed (prefill + decode)
    double seconds = 0;          // wall time of the loop
    double forward_seconds = 0;  // time inside model.forward (collectives included)
};

// `driver` is non-null on world rank 0 only. Returns when the driver broadcasts the stop plan.
EngineStats run_engine(const ProcessGrid& grid, Backend& be, OptModel& model, KvCache& kv, Driver* driver);

}  // namespace ls
