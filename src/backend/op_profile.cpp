#include "backend/op_profile.h"

#include <chrono>

namespace ls {

const char* op_kind_name(OpKind k) {
    switch (k) {
        case OpKind::QkvProj: return "qkv_proj";
        case OpKind::OutProj: return "out_proj";
        case OpKind::Fc1: return "fc1";
        case OpKind::Fc2: return "fc2";
        case OpKind::LmHead: return "lm_head";
        case OpKind::Linear: return "linear";
        case OpKind::Attention: return "attention";
        case OpKind::WriteKv: return "write_kv";
        case OpKind::LayerNorm: return "layer_norm";
        case OpKind::Embedding: return "embedding";
        case OpKind::Elementwise: return "elementwise";
        case OpKind::Copy: return "copy";
        case OpKind::Sample: return "sample";
        case OpKind::kCount: break;
    }
    return "?";
}

ProfilingBackend::ProfilingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}

void ProfilingBackend::name_weights(const std::vector<std::pair<const void*, std::string>>& weights) {
    for (const auto& [data, role] : weights) {
        OpKind kind = OpKind::Linear;
        for (OpKind k : {OpKind::QkvProj, OpKind::OutProj, OpKind::Fc1, OpKind::Fc2, OpKind::LmHead})
            if (role == op_kind_name(k)) kind = k;
        weight_kinds_[data] = kind;
    }
}

template <class F>
void ProfilingBackend::timed(OpKind kind, F&& op) {
    std::unique_ptr<Stopwatch> w;
    if (idle_.empty()) {
        w = inner_->make_stopwatch();
    } else {
        w = std::move(idle_.back());
        idle_.pop_back();
    }
    const auto t0 = std::chrono::steady_clock::now();
    w->start();
    op();
    w->stop();
    profile_[size_t(kind)].host_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    pending_.push_back({std::move(w), kind});
    profile_[size_t(kind)].calls++;
    // Read what the device has finished, without waiting; a step that queues thousands of ops ahead of the
    // device waits here now and then rather than holding a stopwatch per op.
    harvest(pending_.size() > 4096);
}

void ProfilingBackend::harvest(bool wait) {
    if (wait) inner_->synchronize();  // under the watchdog, as every wait for the device
    while (!pending_.empty() && pending_.front().watch->done()) {
        Pending& p = pending_.front();
        profile_[size_t(p.kind)].seconds += p.watch->seconds();
        idle_.push_back(std::move(p.watch));
        pending_.pop_front();
    }
}

const OpProfile& ProfilingBackend::profile(bool wait) {
    if (wait) harvest(true);
    return profile_;
}

void ProfilingBackend::reset() {
    harvest(true);
    profile_ = {};
}

void ProfilingBackend::synchronize() {
    inner_->synchronize();
    harvest(false);  // everything is done now: read it while it is at hand
}

void ProfilingBackend::copy_from_host(const Tensor& dst, const void* src) {
    timed(OpKind::Copy, [&] { inner_->copy_from_host(dst, src); });
}
void ProfilingBackend::copy_to_host(void* dst, const Tensor& src) {
    timed(OpKind::Copy, [&] { inner_->copy_to_host(dst, src); });
}
OpKind ProfilingBackend::weight_kind(const Tensor& w) const {
    const auto named = weight_kinds_.find(w.data);
    return named == weight_kinds_.end() ? OpKind::Linear : named->second;
}
void ProfilingBackend::linear(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias) {
    timed(weight_kind(w), [&] { inner_->linear(y, x, w, bias); });
}
void ProfilingBackend::linear_stacked(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias) {
    timed(weight_kind(w), [&] { inner_->linear_stacked(y, x, w, bias); });
}
void ProfilingBackend::layer_norm(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  float eps) {
    timed(OpKind::LayerNorm, [&] { inner_->layer_norm(y, x, gamma, beta, eps); });
}
void ProfilingBackend::add(const Tensor& y, const Tensor& x) {
    timed(OpKind::Elementwise, [&] { inner_->add(y, x); });
}
void ProfilingBackend::add_bias(const Tensor& y, const Tensor& bias) {
    timed(OpKind::Elementwise, [&] { inner_->add_bias(y, bias); });
}
void ProfilingBackend::add_bias_relu(const Tensor& y, const Tensor& bias) {
    timed(OpKind::Elementwise, [&] { inner_->add_bias_relu(y, bias); });
}
void ProfilingBackend::add_residual(const Tensor& h, const Tensor& y, const Tensor& bias) {
    timed(OpKind::Elementwise, [&] { inner_->add_residual(h, y, bias); });
}
// One kernel, counted as the norm it ends with: the profile's layer_norm calls stay one per norm of the model.
void ProfilingBackend::add_residual_layer_norm(const Tensor& out, const Tensor& h, const Tensor& y, const Tensor& bias,
                                               const Tensor& gamma, const Tensor& beta, float eps) {
    timed(OpKind::LayerNorm, [&] { inner_->add_residual_layer_norm(out, h, y, bias, gamma, beta, eps); });
}
void ProfilingBackend::embedding(const Tensor& y, const Tensor& ids, const Tensor& table, int64_t row_begin) {
    timed(OpKind::Embedding, [&] { inner_->embedding(y, ids, table, row_begin); });
}
void ProfilingBackend::gather_rows(const Tensor& y, const Tensor& x, const Tensor& rows) {
    timed(OpKind::Elementwise, [&] { inner_->gather_rows(y, x, rows); });
}

void ProfilingBackend::argmax_rows(const Tensor& idx, const Tensor& val, const Tensor& x, int64_t n_cols) {
    timed(OpKind::Sample, [&] { inner_->argmax_rows(idx, val, x, n_cols); });
}
void ProfilingBackend::write_kv(const Tensor& k_cache, const Tensor& v_cache, const Tensor& k, const Tensor& v,
                                const Tensor& slot_mapping) {
    timed(OpKind::WriteKv, [&] { inner_->write_kv(k_cache, v_cache, k, v, slot_mapping); });
}
void ProfilingBackend::attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                 const AttentionInputs& in, int n_heads_local, float scale) {
    timed(OpKind::Attention, [&] { inner_->attention(out, q, k_cache, v_cache, in, n_heads_local, scale); });
}
void ProfilingBackend::convert(const Tensor& y, const Tensor& x) {
    timed(OpKind::Elementwise, [&] { inner_->convert(y, x); });
}

}  // namespace ls
