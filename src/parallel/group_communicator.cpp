#include "parallel/group_communicator.h"

#include "comm/mpi_communicator.h"
#include "parallel/staged_communicator.h"

namespace ls {

std::string resolve_comm(const std::string& flag, const std::string& device) {
    if (flag != "auto") {
        ENSURE(flag == "mpi" || device == "cuda", "--comm ", flag, " needs --device cuda");
        return flag;
    }
    return device == "cuda" ? "nccl" : "mpi";
}

std::unique_ptr<Communicator> make_group_communicator(const std::string& comm, MPI_Comm group,
                                                      const std::string& group_name, Backend& be) {
    if (comm == "nccl") return make_nccl_communicator(group, group_name, be);
    if (be.host_memory()) return std::make_unique<MpiCommunicator>(group, group_name);
    return std::make_unique<StagedCommunicator>(group, group_name, be);
}

}  // namespace ls
