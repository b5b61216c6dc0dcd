// NCCL's bootstrap over MPI: the root of each group makes an ncclUniqueId and broadcasts it on the group's
// MPI communicator; every member then calls ncclCommInitRank with it. Needs no GPU (ncclGetUniqueId works
// without one), so CI checks on a GPU-less machine that every rank of a group receives the same id.
#pragma once
#include <mpi.h>
#include <nccl.h>

#include <string>

namespace ls {

ncclUniqueId nccl_unique_id(MPI_Comm group);  // collective over `group`
std::string nccl_id_hex(const ncclUniqueId& id, int n_bytes = 16);  // for logs and the test
std::string nccl_version_string();            // "2.28.9"

}  // namespace ls
