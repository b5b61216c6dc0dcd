// CUDA graphs for decode steps, as vLLM's CUDAGraphRunner: at start-up one graph per batch size (1, 2, 4,
// then multiples of 8 up to max_num_seqs and --max-cudagraph-capture-size), captured largest first so that
// the buffers they read are sized once. A decode step of n sequences replays the graph of the smallest size
// >= n, on its inputs padded to that size; prefill and mixed steps, and larger batches, run eagerly. A decode
// step of a small model is hundreds of short kernels: one graph launch replaces their launch overhead.
#pragma once
#include <map>

#include "comm/communicator.h"
#include "engine/device_step.h"
#include "model/opt.h"

namespace ls {

struct DecodeGraphsConfig {
    int max_num_seqs = 256;
    int max_capture_size = 256;  // --max-cudagraph-capture-size
    int max_blocks = 0;  // block table width of every graph: ceil(max_model_len / block_size)
    int block_size = 16;
};

// Device bytes of the graphs' own step inputs (the largest batch, padded), allocated after KV sizing, which
// sets them aside.
int64_t decode_graph_input_bytes(const Backend& be, const DecodeGraphsConfig& c);

class DecodeGraphs {
public:
    DecodeGraphs(Backend& be, OptModel& model, KvCache& kv, Communicator& tp, const DecodeGraphsConfig& c);
    int size_for(const StepPlan& plan) const;  // 0: run this step eagerly
    void run(const StepPlan& plan, int size);  // upload padded, replay, count the replayed collectives
    int n_graphs() const { return int(graphs_.size()); }
    int largest() const { return graphs_.empty() ? 0 : graphs_.rbegin()->first; }
    double capture_seconds() const { return capture_seconds_; }

private:
    struct Graph {
        int id;
        Communicator::Stats collectives;  // what one replay issues
    };
    Backend& be_;
    OptModel& model_;
    KvCache& kv_;
    Communicator& tp_;
    DecodeGraphsConfig c_;
    DeviceStep dev_;  // the graphs' own inputs: never reallocated by eager steps
    std::map<int, Graph> graphs_;
    double capture_seconds_ = 0;
};

// The batch sizes vLLM captures: 1, 2, 4, 8, 16, 24, ..., up to min(max_num_seqs, max_capture_size), which
// is itself one.
std::vector<int> graph_batch_sizes(int max_num_seqs, int max_capture_size = 256);

}  // namespace ls
