// `lockstep generate`: set up the grid, load this rank's shards, size the KV cache, run the loop, report.
#pragma once
#include "config/options.h"

namespace ls {

// Every rank calls it after MPI_Init. Returns the exit code (1 when a request was refused).
int run_generate(const RunOptions& opts);

}  // namespace ls
