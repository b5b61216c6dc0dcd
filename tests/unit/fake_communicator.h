// A TP group simulated in one process for unit tests: rank() and size() as given, every collective a no-op.
// Enough to load one rank's shards (the sizes are what the tests check) or to run a TP group of one.
#pragma once
#include "comm/communicator.h"

namespace ls {

class FakeCommunicator final : public Communicator {
public:
    FakeCommunicator(int tp_rank = 0, int tp_size = 1) : tp_rank_(tp_rank), tp_size_(tp_size) {}
    int rank() const override { return tp_rank_; }
    int size() const override { return tp_size_; }
    void all_reduce_sum(const Tensor&) override {}
    void all_gather(const Tensor&, const Tensor&) override {}
    void gather(const Tensor&, const Tensor&, int) override {}
    void broadcast(const Tensor&, int) override {}
    void send(const Tensor&, int) override {}
    void recv(const Tensor&, int) override {}

private:
    int tp_rank_, tp_size_;
};

}  // namespace ls
