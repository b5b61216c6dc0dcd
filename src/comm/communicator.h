// Communicator: the collectives of one process group (a TP row or a PP column), on backend memory.
// Implemented over MPI here (host buffers: the CPU backend, and tests without GPUs) and over NCCL in the CUDA
// build. Every call counts its calls, bytes and seconds, which the report reads.
#pragma once
#include <array>
#include <cstdint>

#include "core/tensor.h"

namespace ls {

enum class CollectiveKind { AllReduce, AllGather, Gather, Broadcast, SendRecv, kCount };
const char* collective_name(CollectiveKind k);

struct CollectiveStats {
    int64_t calls = 0;
    int64_t bytes = 0;  // payload bytes this rank contributed
    double seconds = 0;
};

class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;  // rank inside this group
    virtual int size() const = 0;
    virtual void all_reduce_sum(const Tensor& x) = 0;                 // in place
    virtual void all_gather(const Tensor& out, const Tensor& in) = 0;  // out = [size × in] stacked on dim 0
    virtual void gather(const Tensor& out, const Tensor& in, int root) = 0;  // out (root only) as all_gather
    virtual void broadcast(const Tensor& x, int root) = 0;
    virtual void send(const Tensor& x, int dst) = 0;
    virtual void recv(const Tensor& x, int src) = 0;

    const CollectiveStats& stats(CollectiveKind k) const { return stats_[size_t(k)]; }
    void reset_stats() { stats_ = {}; }  // after loading: the report counts the serving loop only

protected:
    std::array<CollectiveStats, size_t(CollectiveKind::kCount)> stats_{};
};

}  // namespace ls
