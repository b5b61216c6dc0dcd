// The engine's memory arithmetic replayed from config.json. Each function names the code it mirrors; a change
// there must be made here too (tests/unit/model/test_memory_plan.cpp loads real models and fails otherwise).
#include "model/memory_plan.h"

#include <algorithm>
#include <climits>

#include "backend/cpu_linear16.h"
#include "core/check.h"
#include "model/weights.h"
#include "parallel/pipeline.h"

namespace ls {

std::vector<int> profile_seq_lens(int max_model_len, int max_num_batched_tokens, int max_num_seqs) {
    const int64_t n_seqs = std::min(max_num_seqs, max_num_batched_tokens);
    if (n_seqs <= 0 || max_model_len <= 0) return {};
    const int64_t total = std::min<int64_t>(max_num_batched_tokens, n_seqs * max_model_len);
    std::vector<int> lens(size_t(n_seqs), int(total / n_seqs));
    for (int64_t i = 0; i < total % n_seqs; i++) lens[size_t(i)]++;  // never past max_model_len: total ≤ n · len
    return lens;
}

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The CPU backend counts max(nbytes, 1) per buffer: an empty one still costs a byte of calloc.
int64_t alloc_bytes(int64_t numel, int64_t elem_bytes) { return std::max<int64_t>(numel * elem_bytes, 1); }

void validate(const MemoryPlanInput& in) {
    ENSURE(in.tp >= 1, "--tensor-parallel-size must be at least 1, got ", in.tp);
    validate_tensor_parallel(in.cfg, in.tp);
    ENSURE(in.dtype_bytes == 2 || in.dtype_bytes == 4, "--dtype: ", in.dtype_bytes,
           "-byte elements are not supported (float32: 4, float16 and bfloat16: 2)");
    ENSURE(in.weight_dtype_bytes == 0 || in.weight_dtype_bytes == in.dtype_bytes ||
               (in.weight_dtype_bytes == 2 && in.dtype_bytes == 4),
           "memory plan: ", in.weight_dtype_bytes, "-byte weights with ", in.dtype_bytes, "-byte activations");
    ENSURE(in.device_memory > 0, "--device-memory must be positive, got ", in.device_memory);
    ENSURE(in.gpu_memory_utilization > 0 && in.gpu_memory_utilization <= 1,
           "--gpu-memory-utilization must be in (0, 1], got ", in.gpu_memory_utilization);
    ENSURE(in.block_size >= 1 && in.block_size <= 1024, "--block-size must be in [1, 1024], got ", in.block_size);
    ENSURE(in.max_model_len >= 0, "--max-model-len must be positive, got ", in.max_model_len);
    ENSURE(in.max_model_len <= in.cfg.max_positions, "--max-model-len ", in.max_model_len,
           " is longer than the model's max_position_embeddings ", in.cfg.max_positions, " (", in.cfg.source, ")");
    ENSURE(in.max_num_seqs >= 1, "--max-num-seqs must be at least 1, got ", in.max_num_seqs);
    ENSURE(in.max_num_batched_tokens >= 0, "--max-num-batched-tokens must be positive, got ",
           in.max_num_batched_tokens);
    // As engine/runtime.cpp: only an explicit value is held to this.
    ENSURE(in.max_num_batched_tokens == 0 || in.max_num_batched_tokens >= in.max_num_seqs,
           "--max-num-batched-tokens ", in.max_num_batched_tokens, " must be at least --max-num-seqs ",
           in.max_num_seqs);
    ENSURE(in.pp >= 1, "--pipeline-parallel-size must be at least 1, got ", in.pp);
    ENSURE(in.pp_rank >= 0 && in.pp_rank < in.pp, "memory plan: stage ", in.pp_rank, " of ", in.pp);
    for (int s = 0; s < in.pp; s++) stage_layers(in.cfg.n_layers, in.pp, s, in.layer_partition);  // checks the split
}


// model/opt.cpp's constructor, through parallel/linear.cpp, parallel/embedding.cpp and
// parallel/shard_loader.cpp: what load_column_parallel / load_row_parallel / load_vocab_parallel_embedding
// read counts as sharded, what ShardLoader::whole reads as replicated. The token table serves the first stage's
// embedding and the last stage's tied LM head, so both load it.
void count_weights(const ModelConfig& c, int tp, int64_t esize, MemoryPlan& p) {
    const int64_t d = c.d_model, e = c.d_embed, d_ff = c.d_ff, n_layers = p.n_layers();
    const int64_t d_local = d / tp, d_ff_local = d_ff / tp;
    // The token table is cut into ceil(V/tp)-row blocks; the last rank's padding rows are allocated too.
    int64_t sharded = p.first() || p.last() ? ceil_div(c.n_vocab, tp) * e : 0;
    int64_t replicated = 0;
    if (p.first()) replicated += int64_t(c.max_positions + kOptPositionOffset) * d;
    if (p.first() && c.has_projection()) replicated += d * e;  // project_in [d, e]
    if (p.last() && c.has_projection()) replicated += e * d;   // project_out [e, d]
    if (p.last() && c.final_layer_norm) replicated += 2 * d;
    // Column-parallel q, k, v, fc1: weight and bias rows; row-parallel out_proj, fc2: weight columns.
    const int64_t layer_sharded = 3 * (d_local * d + d_local) + (d_ff_local * d + d_ff_local) + d * d_local +
                                  d * d_ff_local;
    // Two layer norms (weight + bias) and the row-parallel biases, added once after the all-reduce.
    const int64_t layer_replicated = 2 * (2 * d) + d + d;
    sharded += n_layers * layer_sharded;
    replicated += n_layers * layer_replicated;
    p.weight_bytes_sharded = sharded * esize;
    p.weight_bytes_replicated = replicated * esize;
    p.weight_bytes = p.weight_bytes_sharded + p.weight_bytes_replicated;
}

// engine/kv_sizing.cpp: model.activation_bytes() plus the backend's peak during one forward pass of
// profile_plan(), whose arrays engine/device_step.cpp uploads as int32. Every stage holds the whole
// workspace; only the last computes logits.
void count_activations(const ModelConfig& c, int tp, int64_t esize, MemoryPlan& p) {
    const int64_t n = p.max_num_batched_tokens;
    const int64_t d_local = int64_t(c.n_heads / tp) * c.d_head(), d_ff_local = c.d_ff / tp;
    // OptModel's workspace: hidden, normed, proj [n, d]; qkv [3, n, d_local]; attn [n, d_local];
    // ffn [n, d_ff_local]; embed [n, d_embed].
    p.workspace_bytes = n * (3 * int64_t(c.d_model) + 4 * d_local + d_ff_local + c.d_embed) * esize;

    const std::vector<int> lens = profile_seq_lens(int(p.max_model_len), int(p.max_num_batched_tokens),
                                                   int(p.max_num_seqs));
    // Block tables as wide as a sequence of max_model_len needs: the widest a step may send.
    const int64_t n_seqs = int64_t(lens.size()), max_blocks = ceil_div(p.max_model_len, p.block_size);
    int64_t n_tokens = 0;
    for (int len : lens) n_tokens += len;
    p.profile_tokens = n_tokens;
    p.profile_seqs = n_seqs;

    // Step arrays, in one buffer: token_ids, positions, slot_mapping [n_tokens]; query_start [n_seqs + 1];
    // block_tables [n_seqs, max_blocks]; sample_rows [n_seqs]. Alive through the pass.
    const int64_t i32 = 4;
    int64_t t = alloc_bytes(3 * n_tokens + (n_seqs + 1) + n_seqs * max_blocks + n_seqs, i32);
    // ParallelLMHead::forward holds the local logits [n_sample, n_vocab_local] in the compute dtype, their fp32
    // copy when that is not fp32, with tp > 1 the gathered fp32 [tp, n_sample, n_vocab_local], and the int32
    // [2 · tp, n_sample] that greedy sampling on the device gathers (each rank's own pair goes to the idle
    // gathered logits).
    const int64_t v_local = ceil_div(c.n_vocab, tp);
    if (p.last()) {
        t += alloc_bytes(n_seqs * v_local, esize);
        if (esize != 4) t += alloc_bytes(n_seqs * v_local, 4);
        if (tp > 1) t += alloc_bytes(tp * n_seqs * v_local, 4);
        t += alloc_bytes(2 * tp * n_seqs, i32);
    }
    // backend/cpu_backend.cpp with 16-bit weights: a linear of more than kW16DirectRows rows widens its weights
    // into a panel the backend allocates at the first such call and keeps, grown to the widest (w16_panel_floats).
    if (p.weight_dtype_bytes != esize) {
        int64_t panel = 0;
        auto linear = [&](int64_t rows, int64_t d_in) {
            if (rows > kW16DirectRows) panel = std::max(panel, w16_panel_floats(d_in));
        };
        const int64_t d = c.d_model, e = c.d_embed;
        if (p.first() && c.has_projection()) linear(n_tokens, e);  // project_in
        if (p.n_layers() > 0) {
            linear(n_tokens, d);           // q, k, v and fc1
            linear(n_tokens, d_local);     // out_proj
            linear(n_tokens, d_ff_local);  // fc2
        }
        if (p.last()) {
            if (c.has_projection()) linear(n_seqs, d);  // project_out, of the sampled rows
            linear(n_seqs, e);                          // the LM head
        }
        if (panel > 0) t += alloc_bytes(panel, 4);
    }
    p.transient_bytes = t;
    p.activation_bytes = p.workspace_bytes + p.transient_bytes;
}

// engine/kv_sizing.cpp's budget and block count for this stage's layers (make_stage_plans takes the fewest
// of all stages, as the engine's MPI_MIN does).
void count_kv(const ModelConfig& c, int tp, int64_t esize, MemoryPlan& p) {
    const int64_t d_local = int64_t(c.n_heads / tp) * c.d_head();
    p.kv_bytes_per_token = 2 * p.n_layers() * d_local * esize;
    p.block_bytes = p.kv_bytes_per_token * p.block_size;
    p.kv_budget = int64_t(p.gpu_memory_utilization * p.device_memory) - p.weight_bytes - p.activation_bytes;
    p.kv_blocks_local = std::max<int64_t>(0, p.kv_budget / p.block_bytes);
    p.kv_blocks_local = std::min<int64_t>(p.kv_blocks_local, INT32_MAX / p.block_size);  // int32 slots
}

// engine/runtime.cpp's capacity and concurrency lines, from the blocks every rank uses.
void set_blocks(int64_t kv_blocks, MemoryPlan& p) {
    p.kv_blocks = kv_blocks;
    p.token_capacity = p.kv_blocks * p.block_size;
    p.max_concurrency = double(p.token_capacity) / p.max_model_len;
}

// parallel/linear.cpp (RowParallelLinear: one all-reduce each after out_proj and fc2), parallel/embedding.cpp
// (one for the embedding, of [n, d_embed]; the logits gather); MpiCommunicator skips all of them at tp = 1.
// model/opt.cpp hands the hidden states [n, d_model] from each stage to the next.
void count_collectives(const ModelConfig& c, int tp, int64_t esize, MemoryPlan& p) {
    p.all_reduces_per_step = tp > 1 ? 2 * p.n_layers() + (p.first() ? 1 : 0) : 0;
    p.layer_all_reduce_bytes_per_token = tp > 1 ? c.d_model * esize : 0;
    p.embed_all_reduce_bytes_per_token = tp > 1 && p.first() ? c.d_embed * esize : 0;
    p.gathers_per_step = tp > 1 && p.last() ? 1 : 0;
    p.gather_bytes_per_sample = p.gathers_per_step ? ceil_div(c.n_vocab, tp) * tp * 4 : 0;  // fp32 logits
    p.greedy_gather_bytes_per_sample = p.gathers_per_step ? tp * 8 : 0;  // int32 index + fp32 maximum
    p.stage_sends_per_step = p.last() ? 0 : 1;
    p.stage_send_bytes_per_token = p.last() ? 0 : c.d_model * esize;
}

// One stage's figures, its KV blocks those it could hold.
MemoryPlan plan_stage(const MemoryPlanInput& in, int pp_rank) {
    MemoryPlan p;
    p.tp = in.tp;
    p.pp = in.pp;
    p.pp_rank = pp_rank;
    p.dtype_bytes = in.dtype_bytes;
    p.weight_dtype_bytes = in.weight_dtype_bytes ? in.weight_dtype_bytes : in.dtype_bytes;
    p.block_size = in.block_size;
    p.device_memory = in.device_memory;
    p.gpu_memory_utilization = in.gpu_memory_utilization;
    p.max_num_seqs = in.max_num_seqs;
    // The defaults of engine/runtime.cpp.
    p.max_model_len = in.max_model_len ? in.max_model_len : in.cfg.max_positions;
    p.max_num_batched_tokens = in.max_num_batched_tokens ? in.max_num_batched_tokens : std::max(p.max_model_len, 2048);
    const LayerRange layers = stage_layers(in.cfg.n_layers, in.pp, pp_rank, in.layer_partition);
    p.layer_begin = layers.begin;
    p.layer_end = layers.end;

    const int64_t esize = in.dtype_bytes;
    count_weights(in.cfg, in.tp, p.weight_dtype_bytes, p);
    count_activations(in.cfg, in.tp, esize, p);
    count_kv(in.cfg, in.tp, esize, p);
    count_collectives(in.cfg, in.tp, esize, p);
    return p;
}

}  // namespace

std::vector<MemoryPlan> make_stage_plans(MemoryPlanInput in) {
    validate(in);
    std::vector<MemoryPlan> stages;
    int64_t fewest = INT64_MAX;
    for (int s = 0; s < in.pp; s++) {
        stages.push_back(plan_stage(in, s));
        fewest = std::min(fewest, stages.back().kv_blocks_local);
    }
    for (MemoryPlan& p : stages) set_blocks(fewest, p);
    return stages;
}

MemoryPlan make_memory_plan(const MemoryPlanInput& in) {
    return make_stage_plans(in)[size_t(in.pp_rank)];  // validated there
}

int64_t all_reduce_bytes_per_step(const MemoryPlan& p, int64_t n_tokens) {
    return n_tokens * (2 * p.n_layers() * p.layer_all_reduce_bytes_per_token + p.embed_all_reduce_bytes_per_token);
}

int64_t gather_bytes_per_step(const MemoryPlan& p, int64_t n_sample, bool greedy) {
    return p.gathers_per_step * n_sample * (greedy ? p.greedy_gather_bytes_per_sample : p.gather_bytes_per_sample);
}

std::vector<std::pair<std::string, double>> memory_plan_fields(const MemoryPlan& p) {
    return {
        {"tensor_parallel_size", p.tp},
        {"pipeline_parallel_size", p.pp},
        {"pp_rank", p.pp_rank},
        {"layer_begin", p.layer_begin},
        {"layer_end", p.layer_end},
        {"dtype_bytes", p.dtype_bytes},
        {"weight_dtype_bytes", p.weight_dtype_bytes},
        {"device_memory", p.device_memory},
        {"gpu_memory_utilization", p.gpu_memory_utilization},
        {"block_size", p.block_size},
        {"max_model_len", p.max_model_len},
        {"max_num_batched_tokens", p.max_num_batched_tokens},
        {"max_num_seqs", p.max_num_seqs},
        {"weight_bytes_sharded", double(p.weight_bytes_sharded)},
        {"weight_bytes_replicated", double(p.weight_bytes_replicated)},
        {"weight_bytes", double(p.weight_bytes)},
        {"profile_tokens", double(p.profile_tokens)},
        {"profile_seqs", double(p.profile_seqs)},
        {"workspace_bytes", double(p.workspace_bytes)},
        {"transient_bytes", double(p.transient_bytes)},
        {"activation_bytes", double(p.activation_bytes)},
        {"kv_bytes_per_token", double(p.kv_bytes_per_token)},
        {"block_bytes", double(p.block_bytes)},
        {"kv_budget", double(p.kv_budget)},
        {"kv_blocks_local", double(p.kv_blocks_local)},
        {"kv_blocks", double(p.kv_blocks)},
        {"token_capacity", double(p.token_capacity)},
        {"max_concurrency", p.max_concurrency},
        {"all_reduces_per_step", double(p.all_reduces_per_step)},
        {"layer_all_reduce_bytes_per_token", double(p.layer_all_reduce_bytes_per_token)},
        {"embed_all_reduce_bytes_per_token", double(p.embed_all_reduce_bytes_per_token)},
        {"gathers_per_step", double(p.gathers_per_step)},
        {"gather_bytes_per_sample", double(p.gather_bytes_per_sample)},
        {"greedy_gather_bytes_per_sample", double(p.greedy_gather_bytes_per_sample)},
        {"stage_sends_per_step", double(p.stage_sends_per_step)},
        {"stage_send_bytes_per_token", double(p.stage_send_bytes_per_token)},
    };
}

}  // namespace ls
