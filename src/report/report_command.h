// `lockstep report A.h5 [B.h5]`: reads a run's report against the sharding math (weights per rank, KV blocks
// and capacity, all-reduces per step and their bytes, time spent communicating, the straggler), or two runs
// side by side (e.g. TP=1 against TP=2).
#pragma once

namespace ls {

int report_main(int argc, char** argv);  // argv[0] = "report"; no MPI

}  // namespace ls
