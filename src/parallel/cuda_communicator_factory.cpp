// NCCL communicators on the CUDA backend's stream (compiled only with CUDA).
#include "backend/cuda_backend.h"
#include "comm/nccl_bootstrap.h"
#include "comm/nccl_communicator.h"
#include "parallel/group_communicator.h"

namespace ls {

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm group, const std::string& group_name, Backend& be) {
    auto* cuda = dynamic_cast<CudaBackend*>(&be);
    ENSURE(cuda != nullptr, "--comm nccl needs --device cuda (this rank's backend is ", be.name(), ")");
    return std::make_unique<NcclCommunicator>(group, group_name, cuda->stream(), cuda->device());
}

std::string nccl_version() { return "NCCL " + nccl_version_string(); }

}  // namespace ls
