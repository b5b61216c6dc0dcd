// Communicator: the collectives of one process group (a TP row or a PP column), on backend memory.
// Implemented over MPI here (host buffers: the CPU backend, and tests without GPUs) and over NCCL in the CUDA
// build. Every call counts its calls, bytes and seconds, which the report reads.
#pragma once
#include <array>
#include <chrono>
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
    virtual void reset_stats() { stats_ = {}; }  // after loading: the report counts the serving loop only
    // NCCL calls return before the device has run them: their seconds are read from events, here. Call
    // before reading stats().
    virtual void sync_stats() {}
    // CUDA graphs replay collectives without calling these methods: the engine adds what one capture
    // issued, once per replay (calls and bytes; the seconds of replayed collectives are not measured).
    using Stats = std::array<CollectiveStats, size_t(CollectiveKind::kCount)>;
    const Stats& all_stats() const { return stats_; }
    void add_replayed(const Stats& captured) {
        for (size_t k = 0; k < stats_.size(); k++) {
            stats_[k].calls += captured[k].calls;
            stats_[k].bytes += captured[k].bytes;
        }
    }

protected:
    Stats stats_{};
};

// Counts one call, as the caller sees it, in the stats of its kind: its bytes, and its seconds until scope exit.
struct TimedCall {
    CollectiveStats& s;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    TimedCall(CollectiveStats& st, size_t bytes) : s(st) {
        s.calls++;
        s.bytes += int64_t(bytes);
    }
    ~TimedCall() { s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

}  // namespace ls
