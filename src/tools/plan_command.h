// `lockstep plan`: what each rank of a run would log (weights, activation peak, KV blocks, token capacity,
// all-reduces per step), from config.json alone: no weights read, no MPI. The arithmetic is model/memory_plan.
#pragma once

namespace ls {

// Runs without MPI. argv[0] is "plan". Returns the process exit code: 0 when the plan fits, 1 when no KV
// block would be left (the engine would stop at start-up), 2 on bad flags or a bad config.json.
int plan_main(int argc, char** argv);

}  // namespace ls
