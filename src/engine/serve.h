// Runs the engine loop of an already loaded runtime with what every run wants around it: fault injection,
// the incomplete report if the run fails, the per-rank summary, and the HDF5 report.
#pragma once
#include <vector>

#include "engine/engine.h"
#include "engine/runtime.h"

namespace ls {

// Every rank calls it; `driver` is non-null on the driver only. Returns this rank's loop figures.
EngineStats serve(const RunOptions& o, Runtime& rt, Driver* driver, const std::vector<Sequence>& requests,
                  int max_in_flight);

}  // namespace ls
