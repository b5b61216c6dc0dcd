// What each rank of a run would log about memory and communication, predicted from config.json alone: no
// weights are read, no MPI is started. The arithmetic mirrors the engine's own counting (parallel/shard_loader
// for the weights, OptModel's workspace and engine/kv_sizing's profiling pass for the activations, vLLM's KV
// budget), so that `lockstep plan` and each run's report can set the prediction next to the measured figures.
// Every figure is per rank: all ranks of a TP group hold the same amounts (the vocabulary padding included);
// with pipeline stages, a plan is one stage's (its layers; the embeddings on the first, the final norm and the
// LM head on the last), and the KV blocks every rank uses are the fewest any stage could hold.
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
    // The weights' bytes when they differ from dtype_bytes: 2 for the CPU backend's 16-bit weights (its
    // activations and KV stay fp32, dtype_bytes 4). 0: dtype_bytes.
    int weight_dtype_bytes = 0;
    double device_memory = 0;            // bytes of one rank's device
    double gpu_memory_utilization = 0.9;
    int block_size = 16;
    int max_model_len = 0;               // 0 → cfg.max_positions
    int max_num_batched_tokens = 0;      // 0 → max(max_model_len, 2048)
    int max_num_seqs = 256;
    int pp = 1;                   // pipeline stages
    std::string layer_partition;  // --pipeline-layer-partition ("" → the even split)
    int pp_rank = 0;              // the stage whose figures make_memory_plan returns
};

struct MemoryPlan {
    // The settings after defaults, as the engine resolves them.
    int tp = 1, pp = 1, pp_rank = 0, dtype_bytes = 4, weight_dtype_bytes = 4, block_size = 16;
    int layer_begin = 0, layer_end = 0;  // this stage's layers [begin, end)
    int64_t n_layers() const { return layer_end - layer_begin; }
    bool first() const { return pp_rank == 0; }       // holds the embeddings
    bool last() const { return pp_rank == pp - 1; }   // holds the final norm and the LM head
    int max_model_len = 0, max_num_batched_tokens = 0, max_num_seqs = 0;
    double device_memory = 0, gpu_memory_utilization = 0;

    // Weights, as ShardLoader counts them (ceil(n_vocab / tp) rows of the tied embedding included).
    int64_t weight_bytes_sharded = 0;
    int64_t weight_bytes_replicated = 0;
    int64_t weight_bytes = 0;  // the sum

    // Activations of the profiling pass: OptModel's workspace (max_num_batched_tokens rows) plus the peak of
    // what the backend allocates during one forward pass of the largest step (int32 step arrays, logits, and
    // with 16-bit weights on the CPU the panel they are widened into).
    int64_t profile_tokens = 0, profile_seqs = 0;  // that step: tokens, and sequences (each one sampled)
    int64_t workspace_bytes = 0;
    int64_t transient_bytes = 0;
    int64_t activation_bytes = 0;  // workspace + transient: the log's "activation peak"

    // KV cache: budget = int64(utilization × device memory) − weights − activations.
    int64_t kv_bytes_per_token = 0;  // 2 · this stage's layers · (d_model / tp) · dtype bytes
    int64_t block_bytes = 0;
    int64_t kv_budget = 0;           // negative when the weights and activations alone do not fit
    int64_t kv_blocks_local = 0;     // what this stage's ranks could hold
    int64_t kv_blocks = 0;           // what every rank uses, the fewest of any stage; 0: the engine would stop
                                     // with "no memory left for the KV cache"
    int64_t token_capacity = 0;
    double max_concurrency = 0;      // requests of max_model_len tokens held at once
    bool fits() const { return kv_blocks >= 1; }

    // Collectives of one step of n tokens, s of them sampled (a decode step: n = s = sequences in the batch).
    int64_t all_reduces_per_step = 0;          // 2 per layer + 1 for the embedding (first stage) when tp > 1
    int64_t layer_all_reduce_bytes_per_token = 0;  // d_model · dtype bytes (after out_proj and fc2)
    int64_t embed_all_reduce_bytes_per_token = 0;  // word_embed_proj_dim · dtype bytes (= d_model but opt-350m)
    int64_t gathers_per_step = 0;              // 1 when tp > 1 on the last stage: the LM head's logits to tp_rank 0
    int64_t gather_bytes_per_sample = 0;       // ceil(n_vocab / tp) · tp · 4 bytes, received by tp_rank 0
    int64_t greedy_gather_bytes_per_sample = 0;  // tp · 8 bytes: a greedy step's row maximum and index per rank
    int64_t stage_sends_per_step = 0;          // 1 on every stage but the last: the hidden states onwards
    int64_t stage_send_bytes_per_token = 0;    // d_model · dtype bytes
};

// Stage in.pp_rank's plan. Throws ls::Error naming the flag (--tensor-parallel-size, --dtype,
// --pipeline-layer-partition, ...) when an input is out of range or the model does not split that way.
MemoryPlan make_memory_plan(const MemoryPlanInput& in);
std::vector<MemoryPlan> make_stage_plans(MemoryPlanInput in);  // every stage's, in order

int64_t all_reduce_bytes_per_step(const MemoryPlan& p, int64_t n_tokens);  // all of the step's all-reduces
// greedy: a step whose sampled sequences are all greedy without --logprobs (StepPlan::greedy).
int64_t gather_bytes_per_step(const MemoryPlan& p, int64_t n_sample, bool greedy = false);

// The figures as (name, value) pairs in a fixed order: for JSON output and the run report's /plan group.
std::vector<std::pair<std::string, double>> memory_plan_fields(const MemoryPlan& p);

}  // namespace ls
