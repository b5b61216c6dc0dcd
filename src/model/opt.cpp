#include "model/opt.h"

#include <cmath>

#include "model/weights.h"

namespace ls {

namespace {

LayerNorm load_layer_norm(ShardLoader& ld, const OptWeightNames& w, const std::string& name, int64_t d) {
    return {ld.whole(w.get(name + ".weight", {d})), ld.whole(w.get(name + ".bias", {d})), kOptLayerNormEps};
}

}  // namespace

OptModel::OptModel(const ModelConfig& cfg, Backend& be, Communicator& tp, const PipelineStage& stage,
                   const Checkpoint& ckpt, int max_tokens)
    : cfg_(cfg), be_(be), tp_(tp), stage_(stage) {
    validate_tensor_parallel(cfg, tp.size());
    const int tp_rank = tp.rank(), tp_size = tp.size();
    n_heads_local_ = cfg.n_heads / tp_size;
    const int64_t d = cfg.d_model, d_ff = cfg.d_ff, d_emb = cfg.d_embed;
    OptWeightNames w(ckpt, cfg);
    ShardLoader ld(be, ckpt);

    // The token table serves the embedding (first stage) and the tied LM head (last stage).
    if (stage.first() || stage.last())
        embed_tokens_ = load_vocab_parallel_embedding(ld, w.get("embed_tokens.weight", {cfg.n_vocab, d_emb}),
                                                      tp_rank, tp_size);
    if (stage.first()) {
        embed_positions_ = ld.whole(w.get("embed_positions.weight", {cfg.max_positions + kOptPositionOffset, d}));
        if (cfg.has_projection()) project_in_ = ld.whole(w.get("project_in.weight", {d, d_emb}));
    }
    if (stage.last() && cfg.has_projection()) project_out_ = ld.whole(w.get("project_out.weight", {d_emb, d}));
    for (int l = stage.layers.begin; l < stage.layers.end; l++) {
        const std::string p = "layers." + std::to_string(l) + ".";
        auto col = [&](const std::string& n, int64_t d_out, int64_t d_in) {
            return load_column_parallel(ld, w.get(p + n + ".weight", {d_out, d_in}), w.get(p + n + ".bias", {d_out}),
                                        tp_rank, tp_size);
        };
        auto row = [&](const std::string& n, int64_t d_out, int64_t d_in) {
            return load_row_parallel(ld, w.get(p + n + ".weight", {d_out, d_in}), w.get(p + n + ".bias", {d_out}),
                                     tp_rank, tp_size);
        };
        OptDecoderLayer L;
        L.self_attn_layer_norm = load_layer_norm(ld, w, p + "self_attn_layer_norm", d);
        std::vector<const TensorInfo*> qkv_w, qkv_b;
        for (const char* n : {"q_proj", "k_proj", "v_proj"}) {
            qkv_w.push_back(&w.get(p + "self_attn." + n + ".weight", {d, d}));
            qkv_b.push_back(&w.get(p + "self_attn." + n + ".bias", {d}));
        }
        L.qkv_proj = load_qkv_parallel(ld, qkv_w, qkv_b, tp_rank, tp_size);
        L.out_proj = row("self_attn.out_proj", d, d);
        L.final_layer_norm = load_layer_norm(ld, w, p + "final_layer_norm", d);
        L.fc1 = col("fc1", d_ff, d);
        L.fc2 = row("fc2", d, d_ff);
        layers_.push_back(std::move(L));
    }
    if (cfg.final_layer_norm && stage.last()) final_layer_norm_ = load_layer_norm(ld, w, "final_layer_norm", d);
    lm_head_.embedding = &embed_tokens_;
    weight_bytes_ = ld.bytes();

    const int64_t n = max_tokens;
    const DType f = be.compute_dtype();
    ws_.hidden = be.alloc(f, {n, d});
    ws_.normed = be.alloc(f, {n, d});
    ws_.proj = be.alloc(f, {n, d});
    ws_.qkv = be.alloc(f, {3, n, d_local()});
    ws_.attn = be.alloc(f, {n, d_local()});
    ws_.ffn = be.alloc(f, {n, d_ff / tp_size});
    ws_.embed = be.alloc(f, {n, d_emb});
}

int64_t OptModel::activation_bytes() const {
    int64_t b = 0;
    for (const Buffer* x : {&ws_.hidden, &ws_.normed, &ws_.proj, &ws_.qkv, &ws_.attn, &ws_.ffn, &ws_.embed})
        b += int64_t(x->nbytes());
    return b;
}

void OptModel::layer_norm(const Tensor& y, const Tensor& x, const LayerNorm& ln) {
    be_.layer_norm(y, x, ln.weight, ln.bias, ln.eps);
}

bool OptModel::final_norm_in_epilogue() const {
    return cfg_.pre_ln && cfg_.final_layer_norm && stage_.last() && !layers_.empty();
}

const LayerNorm* OptModel::norm_after(int layer, const StepInputs& in) const {
    if (!cfg_.pre_ln) return &layers_[size_t(layer)].final_layer_norm;
    if (layer + 1 < int(layers_.size())) return &layers_[size_t(layer + 1)].self_attn_layer_norm;
    if (final_norm_in_epilogue() && in.sample_rows.numel() > 0) return &final_layer_norm_;
    return nullptr;
}

void OptModel::forward(const StepInputs& in, KvCache& kv) {
    const int64_t n = in.token_ids.numel();
    const Tensor h = ws_.hidden.tensor().slice_rows(0, n);  // [n, d_model], the residual stream
    if (!stage_.first()) {
        stage_.pp->recv(h, stage_.pp_rank - 1);
    } else if (cfg_.has_projection()) {
        const Tensor e = ws_.embed.tensor().slice_rows(0, n);  // [n, d_embed]
        embed_tokens_.forward(be_, tp_, e, in.token_ids);
        be_.linear(h, e, project_in_, nullptr);
    } else {
        embed_tokens_.forward(be_, tp_, h, in.token_ids);
    }
    if (stage_.first()) {
        // Position p reads row p + 2 of the table: a lookup with the table's first row taken as id -2.
        const Tensor pos = ws_.proj.tensor().slice_rows(0, n);
        be_.embedding(pos, in.attn.positions, embed_positions_, -kOptPositionOffset);
        be_.add(h, pos);
    }

    // Pre-LN: the first layer's norm here; each layer's last epilogue computes the norm that follows it.
    const Tensor x = ws_.normed.tensor().slice_rows(0, n);
    if (cfg_.pre_ln && !layers_.empty()) layer_norm(x, h, layers_.front().self_attn_layer_norm);
    for (int l = 0; l < int(layers_.size()); l++) layer_forward(layers_[size_t(l)], l, in, kv, h, norm_after(l, in));

    if (!stage_.last()) {
        stage_.pp->send(h, stage_.pp_rank + 1);
    } else {
        head_forward(in, final_norm_in_epilogue() ? x : h);
    }
}

void OptModel::read_logits(int64_t n_sample, std::vector<float>& logits) {
    logits.clear();
    if (stage_.last()) lm_head_.read(be_, tp_, n_sample, logits);
}

void OptModel::read_token_ids(int64_t n_sample, std::vector<int32_t>& ids) {
    ids.clear();
    if (stage_.last()) lm_head_.read_argmax(be_, tp_, n_sample, ids);
}

void OptModel::reserve_logit_rows(int64_t rows) {
    if (stage_.last()) lm_head_.reserve(be_, tp_, rows, be_.compute_dtype());
}

void OptModel::head_forward(const StepInputs& in, const Tensor& h) {
    const int64_t n_sample = in.sample_rows.numel();
    if (n_sample == 0) return;
    if (cfg_.final_layer_norm && !final_norm_in_epilogue()) layer_norm(h, h, final_layer_norm_);
    const Tensor hs = ws_.proj.tensor().slice_rows(0, n_sample);  // [n_sample, d_model]
    be_.gather_rows(hs, h, in.sample_rows);
    if (cfg_.has_projection()) {
        const Tensor e = ws_.embed.tensor().slice_rows(0, n_sample);  // [n_sample, d_embed]
        be_.linear(e, hs, project_out_, nullptr);
        lm_head_.forward(be_, tp_, e);
    } else {
        lm_head_.forward(be_, tp_, hs);
    }
}

void OptModel::layer_forward(const OptDecoderLayer& L, int layer, const StepInputs& in, KvCache& kv,
                             const Tensor& h, const LayerNorm* next) {
    const int64_t n = h.rows();
    const Tensor x = ws_.normed.tensor().slice_rows(0, n);   // [n, d_model]
    const Tensor o = ws_.proj.tensor().slice_rows(0, n);     // [n, d_model]
    const Tensor qkv = ws_.qkv.tensor();                      // [3, max_tokens, d_local]
    const Tensor q = qkv.at(0).slice_rows(0, n), k = qkv.at(1).slice_rows(0, n), v = qkv.at(2).slice_rows(0, n);
    const Tensor a = ws_.attn.tensor().slice_rows(0, n);     // [n, d_local]
    const Tensor f = ws_.ffn.tensor().slice_rows(0, n);      // [n, d_ff_local]
    const float scale = 1.0f / std::sqrt(float(cfg_.d_head()));

    // Each block's input: pre-LN, x = its norm of h, computed by the epilogue before it; post-LN, h itself.
    const Tensor& in_x = cfg_.pre_ln ? x : h;
    L.qkv_proj.forward(be_, qkv, in_x);
    be_.write_kv(kv.k[size_t(layer)], kv.v[size_t(layer)], k, v, in.slot_mapping);  // layer: index in this stage
    be_.attention(a, q, kv.k[size_t(layer)], kv.v[size_t(layer)], in.attn, n_heads_local_, scale);
    // h += attention output; then pre-LN normalises h into x for the FFN, post-LN normalises h in place.
    L.out_proj.forward(be_, tp_, h, o, a, cfg_.pre_ln ? L.final_layer_norm : L.self_attn_layer_norm, in_x);

    L.fc1.forward(be_, f, in_x, /*relu=*/true);
    // h += FFN output; then the norm after it, as after out_proj (none at the end of a stage that sends h on).
    if (next)
        L.fc2.forward(be_, tp_, h, o, f, *next, in_x);
    else
        L.fc2.forward(be_, tp_, h, o, f);
}

int64_t OptModel::decode_read_bytes() const {
    int64_t bytes = weight_bytes_.total();
    if (!embed_positions_.empty()) bytes -= int64_t(embed_positions_.tensor().nbytes());
    if (stage_.first() && !stage_.last()) bytes -= int64_t(embed_tokens_.table.tensor().nbytes());
    return bytes;
}

std::vector<std::pair<const void*, std::string>> OptModel::linear_weights() const {
    std::vector<std::pair<const void*, std::string>> w;
    for (const OptDecoderLayer& L : layers_) {
        w.push_back({L.qkv_proj.weight.tensor().data, "qkv_proj"});
        w.push_back({L.out_proj.weight.tensor().data, "out_proj"});
        w.push_back({L.fc1.weight.tensor().data, "fc1"});
        w.push_back({L.fc2.weight.tensor().data, "fc2"});
    }
    if (stage_.last()) w.push_back({embed_tokens_.table.tensor().data, "lm_head"});  // tied: its GEMM reads the table
    if (!project_in_.empty()) w.push_back({project_in_.tensor().data, "project_in"});
    if (!project_out_.empty()) w.push_back({project_out_.tensor().data, "project_out"});
    return w;
}

// Through the Backend's copies and exact sign flips, so it works on every backend and dtype.
std::string OptModel::corrupt_shard_for_test() {
    OptDecoderLayer& L = layers_.front();
    for (const Buffer* w : {&L.out_proj.weight, &L.fc2.weight}) {
        const Tensor& t = *w;
        std::vector<unsigned char> bytes(t.nbytes());
        be_.copy_to_host(bytes.data(), t);
        const size_t size = dtype_size(t.dtype), sign_byte = size - 1;  // little-endian: the sign is the top bit
        ENSURE(t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16,
               "corrupt-shard: weights of dtype ", dtype_name(t.dtype));
        for (size_t i = sign_byte; i < bytes.size(); i += size) bytes[i] ^= 0x80;
        be_.copy_from_host(t, bytes.data());
    }
    be_.synchronize();
    const std::string p = cat("layers.", stage_.layers.begin, ".");
    return cat(p, "self_attn.out_proj.weight and ", p, "fc2.weight (tp_rank ", tp_.rank(), "'s column block of ",
               tp_.size(), ") negated");
}

}  // namespace ls
