// Host-side messages from the driver to every rank: the step plan each step, a few integers at start-up.
// Size first, then the data, both as non-blocking broadcasts waited on without spinning (see mpi_wait.h).
#pragma once
#include <mpi.h>

#include <cstdint>
#include <vector>

namespace ls {

// On `root` v is sent; elsewhere it is replaced by what root sent.
void broadcast_ints(std::vector<int32_t>& v, MPI_Comm comm, int root, const char* what);

}  // namespace ls
