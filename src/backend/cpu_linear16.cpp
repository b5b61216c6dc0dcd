#include "backend/cpu_linear16.h"

#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"

namespace ls {

namespace {

constexpr int64_t kPanelBytes = int64_t(4) << 20;
constexpr int64_t kWidenPerPart = int64_t(1) << 16;  // elements: below this a thread costs more than it saves

#pragma GCC diagnostic ignored "-Wpsabi"  // 8-float vectors passed by value (as cpu_attention.cpp)
using V8 = float __attribute__((vector_size(8 * sizeof(float))));

inline V8 load8(const float* p) {
    V8 v;
    std::memcpy(&v, p, sizeof v);  // unaligned
    return v;
}

// y[i · y_stride] = w · x[i · d, (i + 1) · d) for i < n: one widened weight row against each input row, on
// CPUs without AVX2, FMA or F16C (rows_avx2 below otherwise). Four independent sums of 8 lanes, so the adds
// do not wait on each other.
void dot_rows(
    const float* w, const float* x, int64_t n, int64_t d, float* y, int64_t y_stride) {
    for (int64_t i = 0; i < n; i++) {
        const float* xi = x + i * d;
        V8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
        int64_t k = 0;
        for (; k + 32 <= d; k += 32) {
            a0 += load8(w + k) * load8(xi + k);
            a1 += load8(w + k + 8) * load8(xi + k + 8);
            a2 += load8(w + k + 16) * load8(xi + k + 16);
            a3 += load8(w + k + 24) * load8(xi + k + 24);
        }
        const V8 a = (a0 + a1) + (a2 + a3);
        float s = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
        for (; k < d; k++) s += w[k] * xi[k];
        y[i * y_stride] = s;
    }
}

// The direct path on x86-64 with AVX2, FMA and F16C: each 8 weights widened in a register and multiplied into
// the sums of every input row, so a weight row is read once and never stored as fp32. U chunks of 8 per step,
// each with its own sums (fewer with more rows, or the sums outgrow the 16 vector registers).
__attribute__((target("avx2,fma,f16c"))) inline __m256 widen8(const uint16_t* p, bool bf16) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
}

__attribute__((target("avx2,fma,f16c"))) inline float sum8(__m256 v) {
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
}

template <int N, bool kBf16>
__attribute__((target("avx2,fma,f16c"))) void rows_avx2(const uint16_t* w, const float* x, int64_t d, int64_t j0,
                                                       int64_t j1, float* y, int64_t d_out) {
    constexpr int U = N <= 2 ? 4 : N <= 4 ? 2 : 1;
    for (int64_t j = j0; j < j1; j++) {
        const uint16_t* wj = w + j * d;
        __m256 acc[N][U];
        for (int i = 0; i < N; i++)
            for (int u = 0; u < U; u++) acc[i][u] = _mm256_setzero_ps();
        int64_t k = 0;
        for (; k + 8 * U <= d; k += 8 * U)
            for (int u = 0; u < U; u++) {
                const __m256 wv = widen8(wj + k + 8 * u, kBf16);
                for (int i = 0; i < N; i++)
                    acc[i][u] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + i * d + k + 8 * u), acc[i][u]);
            }
        for (int i = 0; i < N; i++) {
            __m256 a = acc[i][0];
            for (int u = 1; u < U; u++) a = _mm256_add_ps(a, acc[i][u]);
            float s = sum8(a);
            for (int64_t t = k; t < d; t++)
                s += (kBf16 ? bf16_to_f32(wj[t]) : f16_to_f32(wj[t])) * x[i * d + t];
            y[i * d_out + j] = s;
        }
    }
}

template <bool kBf16>
void rows_avx2_n(const uint16_t* w, const float* x, int64_t n, int64_t d, int64_t j0, int64_t j1, float* y,
                 int64_t d_out) {
    static_assert(kW16DirectRows == 8, "one instance per row count");
    switch (n) {
        case 1: return rows_avx2<1, kBf16>(w, x, d, j0, j1, y, d_out);
        case 2: return rows_avx2<2, kBf16>(w, x, d, j0, j1, y, d_out);
        case 3: return rows_avx2<3, kBf16>(w, x, d, j0, j1, y, d_out);
        case 4: return rows_avx2<4, kBf16>(w, x, d, j0, j1, y, d_out);
        case 5: return rows_avx2<5, kBf16>(w, x, d, j0, j1, y, d_out);
        case 6: return rows_avx2<6, kBf16>(w, x, d, j0, j1, y, d_out);
        case 7: return rows_avx2<7, kBf16>(w, x, d, j0, j1, y, d_out);
        default: return rows_avx2<8, kBf16>(w, x, d, j0, j1, y, d_out);
    }
}

bool force_portable = false;  // w16_force_portable(): the tests' way onto the path other CPUs take

bool has_avx2_fma_f16c() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                            __builtin_cpu_supports("f16c");
    return yes && !force_portable;
}

// [begin, end) of n items in part k of n_parts, as even as can be.
int64_t part_begin(int64_t n, int n_parts, int k) { return n * k / n_parts; }

}  // namespace

void w16_force_portable(bool on) { force_portable = on; }

int64_t w16_panel_floats(int64_t d_in) { return std::max(kPanelBytes / 4, 16 * d_in); }

void linear_w16(const Tensor& y, const Tensor& x, const Tensor& w, float* panel, WorkerPool& pool) {
    ENSURE(w.dtype == DType::F16 || w.dtype == DType::BF16, "linear_w16: weight in ", dtype_name(w.dtype));
    const int64_t n = x.rows(), d_in = x.cols(), d_out = w.rows();
    const auto* w16 = static_cast<const uint16_t*>(w.data);
    const bool avx2 = has_avx2_fma_f16c();
    if (n <= kW16DirectRows || (avx2 && n <= kW16BlockedRows)) {
        // Each thread owns a range of output rows. With AVX2 a weight row is widened in registers; elsewhere
        // into the thread's own buffer, which stays in cache for the n dot products.
        const int n_parts = int(std::clamp<int64_t>(d_out / 16, 1, pool.size()));
        if (avx2) {
            // More than 8 rows: blocks of 8, each over a chunk of weight rows small enough (64 KiB) to stay in
            // cache until the last block has read it, so memory still sees each weight once.
            const int64_t chunk = std::max<int64_t>(1, (int64_t(64) << 10) / (2 * d_in));
            pool.run(n_parts, [&](int part) {
                const int64_t j0 = part_begin(d_out, n_parts, part), j1 = part_begin(d_out, n_parts, part + 1);
                for (int64_t c0 = j0; c0 < j1; c0 += chunk) {
                    const int64_t c1 = std::min(j1, c0 + chunk);
                    for (int64_t i0 = 0; i0 < n; i0 += kW16DirectRows) {
                        const int64_t m = std::min(kW16DirectRows, n - i0);
                        const float* xb = x.f32() + i0 * d_in;
                        float* yb = y.f32() + i0 * d_out;
                        if (w.dtype == DType::BF16)
                            rows_avx2_n<true>(w16, xb, m, d_in, c0, c1, yb, d_out);
                        else
                            rows_avx2_n<false>(w16, xb, m, d_in, c0, c1, yb, d_out);
                    }
                }
            });
            return;
        }
        std::vector<float> rows(size_t(n_parts * d_in));
        pool.run(n_parts, [&](int part) {
            float* buf = rows.data() + part * d_in;
            for (int64_t j = part_begin(d_out, n_parts, part), j1 = part_begin(d_out, n_parts, part + 1); j < j1;
                 j++) {
                convert_to_f32(w16 + j * d_in, w.dtype, buf, size_t(d_in));
                dot_rows(buf, x.f32(), n, d_in, y.f32() + j, d_out);
            }
        });
        return;
    }
    ENSURE(panel != nullptr, "linear_w16: no panel for ", n, " rows");
    const int64_t panel_rows = std::min(d_out, w16_panel_floats(d_in) / d_in);
    for (int64_t j0 = 0; j0 < d_out; j0 += panel_rows) {
        const int64_t r = std::min(panel_rows, d_out - j0), count = r * d_in;
        const int n_parts = int(std::clamp<int64_t>(count / kWidenPerPart, 1, pool.size()));
        pool.run(n_parts, [&](int part) {
            const int64_t e0 = part_begin(count, n_parts, part), e1 = part_begin(count, n_parts, part + 1);
            convert_to_f32(w16 + j0 * d_in + e0, w.dtype, panel + e0, size_t(e1 - e0));
        });
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(r), int(d_in), 1.0f, x.f32(), int(d_in),
                    panel, int(d_in), 0.0f, y.f32() + j0, int(d_out));
    }
}

}  // namespace ls
