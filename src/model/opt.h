// OPT (Zhang et al. 2022) as Hugging Face transformers' OPTForCausalLM computes it, on this rank's shards:
//   h = embed_tokens(ids) [· project_in] + embed_positions(p + 2)
//   each layer, pre-LN (do_layer_norm_before):  h += attn(LN(h));  h += fc2(relu(fc1(LN(h))))
//               post-LN (opt-350m):             h = LN(h + attn(h)); h = LN(h + fc2(relu(fc1(h))))
//   [final LN] [· project_out], logits = h · embed_tokensᵀ (tied LM head)
// The split across the TP group lives in parallel/; this file only composes the layers.
#pragma once
#include <vector>

#include "comm/communicator.h"
#include "config/model_config.h"
#include "model/kv_cache.h"
#include "model/step_inputs.h"
#include "parallel/embedding.h"
#include "parallel/linear.h"
#include "parallel/pipeline.h"

namespace ls {

struct OptDecoderLayer {
    LayerNorm self_attn_layer_norm;
    QkvParallelLinear qkv_proj;  // q, k, v: heads [h_local · d_head] of tp_rank, stacked
    RowParallelLinear out_proj;
    LayerNorm final_layer_norm;
    ColumnParallelLinear fc1;  // [d_ff_local, d_model]
    RowParallelLinear fc2;     // [d_model, d_ff_local]
};

// This rank's place in the pipeline. pp is the PP group (the ranks of this tp_rank, one per stage); with one
// stage it is unused.
struct PipelineStage {
    LayerRange layers;
    int pp_rank = 0, pp_size = 1;
    Communicator* pp = nullptr;
    bool first() const { return pp_rank == 0; }
    bool last() const { return pp_rank == pp_size - 1; }
};

class OptModel {
public:
    // Loads this rank's shards of its stage's layers. max_tokens: the most tokens one step may carry.
    OptModel(const ModelConfig& cfg, Backend& be, Communicator& tp, const PipelineStage& stage,
             const Checkpoint& ckpt, int max_tokens);
    OptModel(const OptModel&) = delete;  // the LM head points at this object's embedding
    OptModel& operator=(const OptModel&) = delete;

    // Runs this stage's part of one step on the device: the first stage embeds, the others receive the
    // previous stage's hidden states; the last stage computes each rank's logits block of the sample rows.
    // No host sync, so a CUDA graph can capture it.
    void forward(const StepInputs& in, KvCache& kv);
    // After a forward, every rank calls one of these two; the last stage's TP group gathers on its tp_rank 0.
    // Last stage, tp_rank 0: the first n_sample rows of the last forward's logits, [n_sample, n_vocab], on
    // the host (the engine gets them to the driver); empty elsewhere.
    void read_logits(int64_t n_sample, std::vector<float>& logits);
    // Last stage, tp_rank 0: the greedy token ids of those rows, picked on the device; empty elsewhere.
    void read_token_ids(int64_t n_sample, std::vector<int32_t>& ids);
    void reserve_logit_rows(int64_t rows);  // see ParallelLMHead::reserve
    void set_logit_rows(int64_t rows) { lm_head_.set_rows(rows); }  // after a CUDA graph replay
    const PipelineStage& stage() const { return stage_; }

    const ModelConfig& config() const { return cfg_; }
    int n_heads_local() const { return n_heads_local_; }
    int64_t d_local() const { return int64_t(n_heads_local_) * cfg_.d_head(); }  // this rank's q/k/v width
    const WeightBytes& weight_bytes() const { return weight_bytes_; }
    int64_t activation_bytes() const;  // the workspace, sized for max_tokens
    // The weight bytes one decode step streams: all this rank holds but the tables it only looks rows up in
    // (the positions; the token table on a first stage that is not also the last, whose tied LM head reads it
    // whole). The batch-1 decode floor's numerator.
    int64_t decode_read_bytes() const;
    // The weights of this rank's GEMMs by role ("qkv_proj", "out_proj", "fc1", "fc2", "lm_head", "project_in",
    // "project_out"): --profile-ops counts each GEMM under its weight's role.
    std::vector<std::pair<const void*, std::string>> linear_weights() const;
    // --inject-fault kind=corrupt-shard: negates this rank's shards of out_proj and fc2 in its stage's first
    // layer (only this rank's slice, as a sharding bug would). Returns what it changed, for the warning.
    std::string corrupt_shard_for_test();

private:
    // next: the norm that follows the layer's FFN, computed in fc2's epilogue (norm_after).
    void layer_forward(const OptDecoderLayer& L, int layer, const StepInputs& in, KvCache& kv, const Tensor& h,
                       const LayerNorm* next);
    void layer_norm(const Tensor& y, const Tensor& x, const LayerNorm& ln);
    // The norm after a layer's FFN. Post-LN: its own final_layer_norm, of h in place. Pre-LN, into ws_.normed:
    // the next layer's norm in this stage, else the final norm when this step samples, else none.
    const LayerNorm* norm_after(int layer, const StepInputs& in) const;
    // The final norm is the last layer's epilogue (pre-LN, last stage): the head reads ws_.normed, not h.
    bool final_norm_in_epilogue() const;

    // h: the last layer's output, or already its final norm (final_norm_in_epilogue).
    void head_forward(const StepInputs& in, const Tensor& h);

    ModelConfig cfg_;
    Backend& be_;
    Communicator& tp_;
    PipelineStage stage_;
    int n_heads_local_;
    VocabParallelEmbedding embed_tokens_;
    Buffer embed_positions_;           // [max_positions + 2, d_model], replicated
    Buffer project_in_, project_out_;  // [d_model, d_embed], [d_embed, d_model]; only when d_embed ≠ d_model
    std::vector<OptDecoderLayer> layers_;  // this stage's layers, stage_.layers
    LayerNorm final_layer_norm_;  // only pre-LN models, last stage
    ParallelLMHead lm_head_;
    WeightBytes weight_bytes_;

    // Activations for up to max_tokens rows; each step uses the first n_tokens rows.
    struct Workspace {
        Buffer hidden, normed, proj, qkv, attn, ffn, embed;  // qkv: [3, n, d_local]
    } ws_;
};

}  // namespace ls
