// What each rank of a run would log about memory and communication, predicted from config.json alone: no
// weights are read, no MPI is started. The arithmetic mirrors the engine's own counting (parallel/shard_loader
// for the weights, OptModel's workspace and engine/kv_sizing's profiling pass for the activations, vLLM's KV
// budget), so that `lockstep plan` and each run's report can set the prediction next to the measured figures.
// Every figure is per rank: all ranks of a TP group hold the same amounts (the vocabulary padding included).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/model_config.h"

namespace ls {

// The lengths of the sequences of the profiling pass (engine/kv_sizing.cpp), the largest step the scheduler may
// send, as vLLM profiles it: max_num_batched_tokens tokens spread evenly over min(max_num_seqs,
// max_num_batched_tokens) sequences of at most max_model_len each, every one sampled. So its peak holds the
// logits of the largest decode batch (max_num_seqs rows, which a CUDA graph of that size needs), not only of
// a few long prefills.
std::vector<int> profile_seq_lens(int max_model_len, int max_num_batched_tokens, int max_num_seqs);

struct MemoryPlanInput {
    ModelConfig cfg;
    int tp = 1;                          // tensor-parallel size
    int dtype_bytes = 4;                 // weights, activations and KV: 4 (float32, the CPU engine) or 2
    double device_memory = 0;            // bytes of one rank's device
    double gpu_memory_utilization = 0.9;
    int block_size = 16;
    int max_model_len = 0;               // 0 → cfg.max_positions
    int max_num_batched_tokens = 0;      // 0 → max(max_model_len, 2048)
    int max_num_seqs = 256;
};

struct MemoryPlan {
    // The settings after defaults, as the engine resolves them.
    int tp = 1, dtype_bytes = 4, block_size = 16;
    int max_model_len = 0, max_num_batched_tokens = 0, max_num_seqs = 0;
    double device_memory = 0, gpu_memory_utilization = 0;

    // Weights, as ShardLoader counts them (ceil(n_vocab / tp) rows of the tied embedding included).
    int64_t weight_bytes_sharded = 0;
    int64_t weight_bytes_replicated = 0;
    int64_t weight_bytes = 0;  // the sum

    // Activations of the profiling pass: OptModel's workspace (max_num_batched_tokens rows) plus the peak of
    // what the backend allocates during one forward pass of the largest step (int32 step arrays, logits).
    int64_t profile_tokens = 0, profile_seqs = 0;  // that step: tokens, and sequences (each one sampled)
    int64_t workspace_bytes = 0;
    int64_t transient_bytes = 0;
    int64_t activation_bytes = 0;  // workspace + transient: the log's "activation peak"

    // KV cache: budget = int64(utilization × device memory) − weights − activations.
    int64_t kv_bytes_per_token = 0;  // 2 · n_layers · (d_model / tp) · dtype bytes
    int64_t block_bytes = 0;
    int64_t kv_budget = 0;           // negative when the weights and activations alone do not fit
    int64_t kv_blocks = 0;           // 0: the engine would stop with "no memory left for the KV cache"
    int64_t token_capacity = 0;
    double max_concurrency = 0;      // requests of max_model_len tokens held at once
    bool fits() const { return kv_blocks >= 1; }

    // Collectives of one step of n tokens, s of them sampled (a decode step: n = s = sequences in the batch).
    int64_t all_reduces_per_step = 0;          // 2 per layer + 1 for the embedding when tp > 1, else 0
    int64_t layer_all_reduce_bytes_per_token = 0;  // d_model · dtype bytes (after out_proj and fc2)
    int64_t embed_all_reduce_bytes_per_token = 0;  // word_embed_proj_dim · dtype bytes (= d_model but opt-350m)
    int64_t gathers_per_step = 0;              // 1 when tp > 1: the LM head's logits to tp_rank 0
    int64_t gather_bytes_per_sample = 0;       // ceil(n_vocab / tp) · tp · dtype bytes, received by tp_rank 0
};

// Throws ls::Error naming the flag (--tensor-parallel-size, --dtype, ...) when an input is out of range or
// the model does not split over tp ranks.
MemoryPlan make_memory_plan(const MemoryPlanInput& in);

int64_t all_reduce_bytes_per_step(const MemoryPlan& p, int64_t n_tokens);  // all of the step's all-reduces
int64_t gather_bytes_per_step(const MemoryPlan& p, int64_t n_sample);

// The figures as (name, value) pairs in a fixed order: for JSON output and the run report's /plan group.
std::vector<std::pair<std::string, double>> memory_plan_fields(const MemoryPlan& p);

}  // namespace ls
