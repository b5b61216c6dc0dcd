// Communicator over NCCL, on device memory, enqueued on the backend's compute stream (so a collective is
// ordered after the GEMM that produced its input without a host sync, and CUDA graphs can capture it).
// One per process group: the TP row and the PP column of the grid each get their own ncclComm_t.
#pragma once
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace ls {

class NcclCommunicator final : public Communicator {
public:
    // Collective over `group`: checks that no two members share a GPU (NCCL refuses that), broadcasts the
    // unique id, and initialises the communicator non-blocking, waited on under the watchdog.
    NcclCommunicator(MPI_Comm group, std::string group_name, cudaStream_t stream, int device);
    ~NcclCommunicator() override;
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void all_reduce_sum(const Tensor& x) override;
    void all_gather(const Tensor& out, const Tensor& in) override;
    void gather(const Tensor& out, const Tensor& in, int root) override;
    void broadcast(const Tensor& x, int root) override;
    void send(const Tensor& x, int dst) override;
    void recv(const Tensor& x, int src) override;
    void sync_stats() override;
    // Reads the pending timings first: else the profiling pass's calls would land in the serving figures.
    void reset_stats() override {
        harvest(true);
        Communicator::reset_stats();
    }

private:
    void settle(const char* what);  // waits while NCCL reports ncclInProgress (non-blocking communicator)
    struct Timing {                 // device time of one call: two events, read once they have completed
        cudaEvent_t start, stop;
        CollectiveKind kind;
    };
    Timing& begin(CollectiveKind kind, size_t bytes);
    void end(Timing& t);
    void harvest(bool wait);

    ncclComm_t comm_ = nullptr;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    int wait_check_ = -1;  // core/wait.h: its asynchronous error ends any wait
    cudaStream_t stream_;
    std::string name_;
    int rank_ = 0, size_ = 1;
    std::vector<Timing> pending_;     // recorded, not yet read
    std::vector<cudaEvent_t> events_;  // free events for reuse
};

}  // namespace ls
