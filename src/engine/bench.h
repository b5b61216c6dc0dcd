// `lockstep bench`: synthetic requests of --input-len prompt tokens and --output-len generated tokens, all at
// once or arriving at --request-rate (Poisson), as vLLM's benchmark scripts send them. Reports throughput,
// time to first token and inter-token latency (p50/p90/p99) as a table and as JSON, and the memory-bandwidth
// floor of batch-1 decode: the weight bytes a rank reads per token ÷ its measured copy bandwidth.
#pragma once
#include "config/options.h"

namespace ls {

int run_bench(const RunOptions& opts);  // every rank calls it; returns the exit code

}  // namespace ls
