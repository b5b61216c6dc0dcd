// The communicator of one process group for this rank's backend:
//   --device cpu:               MPI on host memory
//   --device cuda, --comm nccl: NCCL on the CUDA backend's stream (one rank per GPU)
//   --device cuda, --comm mpi:  MPI staged through host memory (several ranks may share a GPU)
#pragma once
#include <memory>
#include <string>

#include "backend/backend.h"
#include "comm/communicator.h"
#include "comm/process_grid.h"

namespace ls {

// comm: "mpi" or "nccl" (resolved: auto → nccl on cuda, mpi on cpu).
std::unique_ptr<Communicator> make_group_communicator(const std::string& comm, MPI_Comm group,
                                                      const std::string& group_name, Backend& be);
// NCCL on the CUDA backend's stream: cuda_communicator_factory.cpp, or nocuda_communicator_factory.cpp's error.
std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm group, const std::string& group_name, Backend& be);
std::string resolve_comm(const std::string& flag, const std::string& device);
// "NCCL 2.28.9" in a CUDA build, "" otherwise (for the start-up log).
std::string nccl_version();

}  // namespace ls
