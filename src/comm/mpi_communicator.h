// Communicator over an MPI communicator, on host memory (the CPU backend; the CUDA backend with --comm mpi).
#pragma once
#include <mpi.h>

#include <string>

#include "comm/communicator.h"

namespace ls {

class MpiCommunicator final : public Communicator {
public:
    MpiCommunicator(MPI_Comm comm, std::string group_name);  // name for messages: "TP group", "PP group"
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void all_reduce_sum(const Tensor& x) override;
    void all_gather(const Tensor& out, const Tensor& in) override;
    void gather(const Tensor& out, const Tensor& in, int root) override;
    void broadcast(const Tensor& x, int root) override;
    void send(const Tensor& x, int dst) override;
    void recv(const Tensor& x, int src) override;

private:
    MPI_Comm comm_;
    std::string name_;
    int rank_ = 0, size_ = 1;
};

}  // namespace ls
