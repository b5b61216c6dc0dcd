#include "backend/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/cpu_attention.h"
#include "backend/cpu_linear16.h"
#include "backend/openblas_env.h"
#include "backend/shape_checks.h"

namespace ls {

namespace {
void expect_f32(const Tensor& t, const char* what) {
    ENSURE(t.dtype == DType::F32, "cpu backend: ", what, " must be float32, got ", dtype_name(t.dtype));
}

// A bias, norm weight or embedding row as fp32: the tensor's own floats, or, for weights stored in 16 bits,
// its values widened into a copy (d floats per op, beside the op's pass over [n, d] activations).
class F32Values {
public:
    explicit F32Values(const Tensor& t) {
        if (t.dtype == DType::F32) {
            p_ = t.f32();
            return;
        }
        own_.resize(size_t(t.numel()));
        convert_to_f32(t.data, t.dtype, own_.data(), size_t(t.numel()));
        p_ = own_.data();
    }
    const float* get() const { return p_; }

private:
    std::vector<float> own_;
    const float* p_ = nullptr;
};
}  // namespace

CpuBackend::CpuBackend(int n_threads, double total_memory, DType weight_dtype)
    : n_threads_(std::max(1, n_threads)), pool_(n_threads_), total_memory_(total_memory), weight_dtype_(weight_dtype) {
    ENSURE(weight_dtype == DType::F32 || weight_dtype == DType::F16 || weight_dtype == DType::BF16,
           "cpu backend: weights in ", dtype_name(weight_dtype), " are not supported");
    // Several ranks share a node's cores: each rank's BLAS gets its share, or the ranks fight over them.
    openblas_set_num_threads(n_threads_);
}

std::string CpuBackend::name() const {
    return cat("cpu (OpenBLAS ", openblas_core(), ", ", n_threads_, " thread(s)",
               weight_dtype_ == DType::F32 ? "" : cat(", ", dtype_torch_name(weight_dtype_), " weights"), ")");
}

Buffer CpuBackend::alloc(DType dtype, std::initializer_list<int64_t> shape) {
    Tensor t = make_tensor(nullptr, dtype, shape);
    const size_t bytes = std::max<size_t>(t.nbytes(), 1);
    // calloc: large blocks come zeroed from the kernel and take no RSS until touched, so a KV pool sized for
    // the whole budget costs only what the sequences write into it.
    void* p = std::calloc(1, bytes);
    ENSURE(p != nullptr, "cpu backend: out of memory allocating ", bytes, " bytes");
    t.data = p;
    usage_.allocated += int64_t(bytes);
    usage_.peak = std::max(usage_.peak, usage_.allocated);
    return Buffer(t, [this, bytes](void* q) {
        std::free(q);
        usage_.allocated -= int64_t(bytes);
    });
}

void CpuBackend::copy_from_host(const Tensor& dst, const void* src) { std::memcpy(dst.data, src, dst.nbytes()); }
void CpuBackend::copy_to_host(void* dst, const Tensor& src) { std::memcpy(dst, src.data, src.nbytes()); }

// Ops here finish before they return, so the wall clock around one is its time.
std::unique_ptr<Stopwatch> CpuBackend::make_stopwatch() {
    struct WallClock final : Stopwatch {
        using Clock = std::chrono::steady_clock;
        Clock::time_point t0, t1;
        void start() override { t0 = Clock::now(); }
        void stop() override { t1 = Clock::now(); }
        bool done() override { return true; }
        double seconds() override { return std::chrono::duration<double>(t1 - t0).count(); }
    };
    return std::make_unique<WallClock>();
}

void CpuBackend::linear(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias) {
    expect_f32(x, "linear input");
    const int64_t n = x.rows(), d_in = x.cols(), d_out = w.rows();
    ENSURE(w.cols() == d_in && y.rows() == n && y.cols() == d_out, "linear: shapes y[", y.rows(), ",", y.cols(),
           "] x[", n, ",", d_in, "] w[", d_out, ",", w.cols(), "] do not match");
    if (n == 0) return;
    if (w.dtype != DType::F32) {
        float* panel = nullptr;
        if (n > kW16DirectRows) {
            const int64_t need = w16_panel_floats(d_in);
            if (panel_.empty() || panel_.tensor().numel() < need) {
                panel_ = Buffer();  // the old and new panels never coexist
                panel_ = alloc(DType::F32, {need});
            }
            panel = panel_.tensor().f32();
        }
        linear_w16(y, x, w, panel, pool_);
    } else if (n == 1)  // decode at batch 1: sgemm would pack (copy) the whole weight matrix first
        cblas_sgemv(CblasRowMajor, CblasNoTrans, int(d_out), int(d_in), 1.0f, w.f32(), int(d_in), x.f32(), 1, 0.0f,
                    y.f32(), 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(d_out), int(d_in), 1.0f, x.f32(), int(d_in),
                    w.f32(), int(d_in), 0.0f, y.f32(), int(d_out));
    if (bias) add_bias(y, *bias);
}

void CpuBackend::linear_stacked(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias) {
    check_linear_stacked(y, x, w, bias);
    const int64_t batch = y.shape[0], d_out = y.shape[2];
    for (int64_t b = 0; b < batch; b++) {
        const Tensor bb = bias.view2d(batch, d_out).at(b);
        linear(y.at(b).slice_rows(0, x.rows()), x, w.slice_rows(b * d_out, (b + 1) * d_out), &bb);
    }
}

namespace {
// Statistics in double; yi may be xi.
void layer_norm_row(float* yi, const float* xi, const float* g, const float* b, int64_t d, float eps) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < d; j++) mean += xi[j];
    mean /= double(d);
    for (int64_t j = 0; j < d; j++) var += (xi[j] - mean) * (xi[j] - mean);
    var /= double(d);
    const float inv = float(1.0 / std::sqrt(var + double(eps)));
    for (int64_t j = 0; j < d; j++) yi[j] = (xi[j] - float(mean)) * inv * g[j] + b[j];
}

void add_residual_row(float* hi, const float* yi, const float* bias, int64_t d) {
    for (int64_t j = 0; j < d; j++) hi[j] += yi[j] + bias[j];
}

void add_bias_rows(const Tensor& y, const Tensor& bias, bool relu, const char* op) {
    check_bias(y, bias, op);
    const int64_t n = y.rows(), d = y.cols();
    const F32Values b(bias);
    for (int64_t i = 0; i < n; i++) {
        float* yi = y.f32() + i * d;
        for (int64_t j = 0; j < d; j++) yi[j] = relu ? std::max(yi[j] + b.get()[j], 0.0f) : yi[j] + b.get()[j];
    }
}
}  // namespace

void CpuBackend::layer_norm(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
    check_layer_norm(y, x, gamma, beta, "layer_norm");
    const int64_t d = x.cols();
    const F32Values g(gamma), b(beta);
    for (int64_t i = 0; i < x.rows(); i++) layer_norm_row(y.f32() + i * d, x.f32() + i * d, g.get(), b.get(), d, eps);
}

void CpuBackend::add(const Tensor& y, const Tensor& x) {
    ENSURE(y.numel() == x.numel(), "add: ", y.numel(), " vs ", x.numel(), " elements");
    float* a = y.f32();
    const float* b = x.f32();
    for (int64_t i = 0, n = y.numel(); i < n; i++) a[i] += b[i];
}

void CpuBackend::add_bias(const Tensor& y, const Tensor& bias) { add_bias_rows(y, bias, false, "add_bias"); }
void CpuBackend::add_bias_relu(const Tensor& y, const Tensor& bias) { add_bias_rows(y, bias, true, "add_bias_relu"); }

void CpuBackend::add_residual(const Tensor& h, const Tensor& y, const Tensor& bias) {
    check_residual(h, y, bias, "add_residual");
    const int64_t d = h.cols();
    const F32Values b(bias);
    for (int64_t i = 0; i < h.rows(); i++) add_residual_row(h.f32() + i * d, y.f32() + i * d, b.get(), d);
}

// Row by row, so that the row the norm reads is still in L1 from the add.
void CpuBackend::add_residual_layer_norm(const Tensor& out, const Tensor& h, const Tensor& y, const Tensor& bias,
                                         const Tensor& gamma, const Tensor& beta, float eps) {
    check_residual(h, y, bias, "add_residual_layer_norm");
    check_layer_norm(out, h, gamma, beta, "add_residual_layer_norm");
    const int64_t d = h.cols();
    const F32Values b(bias), g(gamma), be(beta);
    for (int64_t i = 0; i < h.rows(); i++) {
        float* hi = h.f32() + i * d;
        add_residual_row(hi, y.f32() + i * d, b.get(), d);
        layer_norm_row(out.f32() + i * d, hi, g.get(), be.get(), d, eps);
    }
}

void CpuBackend::embedding(const Tensor& y, const Tensor& ids, const Tensor& table, int64_t row_begin) {
    const int64_t n = ids.numel(), d = table.cols(), n_rows = table.rows();
    ENSURE(y.rows() == n && y.cols() == d, "embedding: output [", y.rows(), ",", y.cols(), "] for ", n, " ids of ",
           d);
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = int64_t(ids.i32()[i]) - row_begin;
        float* yi = y.f32() + i * d;
        if (r >= 0 && r < n_rows && table.dtype == DType::F32)
            std::memcpy(yi, table.f32() + r * d, size_t(d) * 4);
        else if (r >= 0 && r < n_rows)
            convert_to_f32(static_cast<const char*>(table.data) + r * d * int64_t(dtype_size(table.dtype)), table.dtype,
                           yi, size_t(d));
        else
            std::memset(yi, 0, size_t(d) * 4);
    }
}

void CpuBackend::gather_rows(const Tensor& y, const Tensor& x, const Tensor& rows) {
    const int64_t d = x.cols();
    for (int64_t i = 0; i < rows.numel(); i++) {
        const int64_t r = rows.i32()[i];
        ENSURE(r >= 0 && r < x.rows(), "gather_rows: row ", r, " of ", x.rows());
        std::memcpy(y.f32() + i * d, x.f32() + r * d, size_t(d) * 4);
    }
}

void CpuBackend::argmax_rows(const Tensor& idx, const Tensor& val, const Tensor& x, int64_t n_cols) {
    ENSURE(x.dtype == DType::F32 && n_cols > 0 && n_cols <= x.cols() && idx.numel() == x.rows() &&
               val.numel() == x.rows(),
           "argmax_rows: ", x.rows(), " rows of ", x.cols(), " (", n_cols, " read) into ", idx.numel(), " and ",
           val.numel());
    for (int64_t r = 0; r < x.rows(); r++) {
        const float* row = x.f32() + r * x.cols();
        int32_t best = -1;  // NaN is never chosen; a row of -inf gives its first
        float best_v = -INFINITY;
        bool bad = false;
        for (int32_t j = 0; j < int32_t(n_cols); j++) {
            bad |= std::isnan(row[j]) || row[j] == INFINITY;
            if (row[j] > best_v || (best < 0 && row[j] == best_v)) {
                best = j;
                best_v = row[j];
            }
        }
        idx.i32()[r] = best < 0 ? 0 : best;
        val.f32()[r] = bad ? NAN : best_v;
    }
}

void CpuBackend::write_kv(const Tensor& k_cache, const Tensor& v_cache, const Tensor& k, const Tensor& v,
                          const Tensor& slot_mapping) {
    const int64_t d = k.cols(), n_slots = k_cache.rows();
    for (int64_t i = 0; i < k.rows(); i++) {
        const int64_t s = slot_mapping.i32()[i];
        if (s == -1) continue;  // padding
        ENSURE(s >= 0 && s < n_slots, "write_kv: slot ", s, " outside the cache's ", n_slots, " slots");
        std::memcpy(k_cache.f32() + s * d, k.f32() + i * d, size_t(d) * 4);
        std::memcpy(v_cache.f32() + s * d, v.f32() + i * d, size_t(d) * 4);
    }
}

void CpuBackend::attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                           const AttentionInputs& in, int n_heads_local, float scale) {
    paged_attention_cpu(out, q, k_cache, v_cache, in, n_heads_local, scale, pool_);
}

void CpuBackend::convert(const Tensor& y, const Tensor& x) {
    ENSURE(y.numel() == x.numel(), "convert: ", y.numel(), " vs ", x.numel(), " elements");
    const size_t n = size_t(x.numel());
    if (y.dtype == x.dtype) {
        std::memcpy(y.data, x.data, x.nbytes());
        return;
    }
    std::vector<float> tmp;
    const float* f = x.f32();
    if (x.dtype != DType::F32) {
        tmp.resize(n);
        convert_to_f32(x.data, x.dtype, tmp.data(), n);
        f = tmp.data();
    }
    auto* out16 = static_cast<uint16_t*>(y.data);
    switch (y.dtype) {
        case DType::F32: std::memcpy(y.data, f, n * 4); break;
        case DType::F16: for (size_t i = 0; i < n; i++) out16[i] = f32_to_f16(f[i]); break;
        case DType::BF16: for (size_t i = 0; i < n; i++) out16[i] = f32_to_bf16(f[i]); break;
        default: raise("convert: to ", dtype_name(y.dtype), " is not supported");
    }
}

}  // namespace ls
