// A build without CUDA: no NCCL.
#include "parallel/group_communicator.h"

namespace ls {

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm, const std::string&, Backend&) {
    raise("--comm nccl: this build of lockstep has no CUDA/NCCL (it was configured without nvcc)");
}

std::string nccl_version() { return ""; }

}  // namespace ls
