// OpenBLAS reads two settings from the environment when the library loads, before main(): the size of its
// thread pool and which CPU's kernels to run. lockstep's ranks need both set for them, so main() sets them and
// starts the process again, once (see set_openblas_env).
#pragma once
#include <string>

namespace ls {

// Sets, where the user has not:
// - OPENBLAS_NUM_THREADS to this rank's share of the host's cores (local_ranks: ranks on this host, from the
//   launcher's environment), since every rank's pool of one thread per core steals time slices from the
//   other ranks, which then wait at every all-reduce (TP=2 decode measured 38 ms per token instead of 21);
// - OPENBLAS_CORETYPE when OpenBLAS took this CPU for one without AVX2 although it has AVX2 or AVX-512 (an
//   OpenBLAS older than the CPU: Debian 12's 0.3.21 runs a 2023 Xeon on Prescott's SSE3 kernels, a third of
//   the GEMM speed its AVX-512 kernels reach there).
// True when it set either: the caller must exec the program again for OpenBLAS to read them.
bool set_openblas_env(int local_ranks);

// The CPU kernels OpenBLAS runs ("SkylakeX"), and, when set_openblas_env chose them, why (else "").
std::string openblas_core();
std::string openblas_core_override_note();

}  // namespace ls
