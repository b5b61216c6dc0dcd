// --comm mpi on a device backend: each collective copies its tensor to host memory, runs it over MPI, and
// copies the result back. Slow (two copies and a sync per call) but it lets several ranks share one GPU,
// which NCCL refuses, so TP=2 can be tested on a machine with one GPU. F16/BF16 sums are done in fp32 on the
// host, since MPI has no half-precision reduction. Its stats count what the caller sees: the device tensor's
// bytes (not the widened fp32 copy) and the whole call, copies included.
#pragma once
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "comm/mpi_communicator.h"

namespace ls {

class StagedCommunicator final : public Communicator {
public:
    StagedCommunicator(MPI_Comm group, std::string group_name, Backend& be);
    int rank() const override { return host_.rank(); }
    int size() const override { return host_.size(); }
    void all_reduce_sum(const Tensor& x) override;
    void all_gather(const Tensor& out, const Tensor& in) override;
    void gather(const Tensor& out, const Tensor& in, int root) override;
    void broadcast(const Tensor& x, int root) override;
    void send(const Tensor& x, int dst) override;
    void recv(const Tensor& x, int src) override;

private:
    Tensor to_host(const Tensor& x, std::vector<char>& buf, bool as_f32);  // x copied (and widened) into buf
    void from_host(const Tensor& x, const Tensor& host);                   // the reverse

    MpiCommunicator host_;
    Backend& be_;
    std::vector<char> a_, b_;     // host copies of the tensors (a_ widened to fp32 for sums)
    std::vector<uint16_t> narrow_;  // F16/BF16 words on their way to and from the device
};

}  // namespace ls
