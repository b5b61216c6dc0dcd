// `lockstep make-model`: writes a Hugging Face OPT checkpoint of any shape with random weights (no download
// is possible on our machines), for the demo, the tests and the benchmarks.
#pragma once

namespace ls {

// Runs without MPI. argv[0] is "make-model". Returns the process exit code (2 on bad flags).
int make_model_main(int argc, char** argv);

}  // namespace ls
