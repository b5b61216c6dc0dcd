// The CPU backend with weights stored in fp16 or bf16 (--dtype float16|bfloat16 on the CPU): each op must give
// what the fp32 backend gives on the same weights widened to fp32, since the math is fp32 either way. The
// linears sum in another order than OpenBLAS (relative error within 1e-5); the other ops only widen their
// parameters, so their results are bitwise the fp32 backend's.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu_backend.h"
#include "backend/cpu_linear16.h"
#include "core/dtype.h"

using namespace ls;

namespace {

std::vector<float> randn(size_t n, uint64_t seed) {
    std::mt19937_64 g(seed);
    std::normal_distribution<float> d;
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}

uint16_t narrow(float f, DType dt) { return dt == DType::F16 ? f32_to_f16(f) : f32_to_bf16(f); }
float widen(uint16_t h, DType dt) { return dt == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h); }

// A weight as both backends hold it: 16 bits on one, the same values in fp32 on the other.
struct Weight {
    Buffer w16, w32;
    Weight(CpuBackend& be16, CpuBackend& be32, const std::vector<float>& v, std::initializer_list<int64_t> shape) {
        const DType dt = be16.weight_dtype();
        std::vector<uint16_t> h(v.size());
        std::vector<float> f(v.size());
        for (size_t i = 0; i < v.size(); i++) {
            h[i] = narrow(v[i], dt);
            f[i] = widen(h[i], dt);
        }
        w16 = be16.alloc(dt, shape);
        be16.copy_from_host(w16, h.data());
        w32 = be32.alloc(DType::F32, shape);
        be32.copy_from_host(w32, f.data());
    }
};

Buffer activations(CpuBackend& be, const std::vector<float>& v, std::initializer_list<int64_t> shape) {
    Buffer b = be.alloc(DType::F32, shape);
    be.copy_from_host(b, v.data());
    return b;
}

std::vector<float> host(const Tensor& t) {
    std::vector<float> v(size_t(t.numel()));
    std::memcpy(v.data(), t.data, t.nbytes());
    return v;
}

// y16 against y32, each element within 1e-5 of the sum of |products| that made it (the scale a reordered
// fp32 sum can move by).
void check_linear(const std::vector<float>& y16, const std::vector<float>& y32, const std::vector<float>& x,
                  const std::vector<float>& w, int64_t n, int64_t d_in, int64_t d_out) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < d_out; o++) {
            double scale = 0;
            for (int64_t k = 0; k < d_in; k++)
                scale += std::fabs(double(x[size_t(i * d_in + k)]) * w[size_t(o * d_in + k)]);
            worst = std::max(worst, std::fabs(double(y16[size_t(i * d_out + o)]) - y32[size_t(i * d_out + o)]) /
                                        std::max(scale, 1e-30));
        }
    CHECK(worst < 1e-5);
}

}  // namespace

// The CPU backend widens 16-bit weights with convert_to_f32 (F16C where the CPU has it).
TEST_CASE("convert_to_f32: every fp16 and bf16 value, as the scalar conversions give it") {
    std::vector<uint16_t> all(65536);
    for (size_t i = 0; i < all.size(); i++) all[i] = uint16_t(i);
    for (DType dt : {DType::F16, DType::BF16}) {
        CAPTURE(dtype_name(dt));
        std::vector<float> got(all.size());
        convert_to_f32(all.data(), dt, got.data(), all.size());
        int wrong = 0;
        for (size_t i = 0; i < all.size(); i++) {
            const float want = widen(all[i], dt);
            if (std::isnan(want) ? !std::isnan(got[i]) : std::memcmp(&want, &got[i], 4) != 0) wrong++;
        }
        CHECK(wrong == 0);
    }
}

TEST_CASE("cpu backend, 16-bit weights: linear equals the fp32 backend's, on the direct path and in panels") {
    struct Shape {
        int64_t n, d_in, d_out;
    };
    // n up to kW16DirectRows: dot products on the backend's threads; with AVX2 up to kW16BlockedRows too, 8
    // rows at a time (9, 17 and 32 rows: blocks of 8 and a partial one); above: panels to sgemm (9 rows on
    // the portable path, 33 and 64 on both). 1000 x 1100 weights are more than one 4 MiB panel (1048 rows of
    // 1000), so the last panel is partial. Odd widths exercise the dot product's tail.
    const Shape shapes[] = {{1, 64, 40}, {2, 5, 3},       {3, 1000, 1100}, {5, 33, 17},    {8, 64, 40},
                            {9, 1000, 1100}, {17, 100, 37}, {32, 64, 40}, {33, 1000, 1100}, {64, 100, 1030}};
    for (bool portable : {false, true})  // the AVX2 kernel where this CPU has it, and the portable path
        for (DType dt : {DType::F16, DType::BF16})
            for (int threads : {1, 3})
                for (const Shape& s : shapes) {
                    w16_force_portable(portable);
                    CAPTURE(portable);
                    CAPTURE(dtype_name(dt));
                    CAPTURE(threads);
                    CAPTURE(s.n);
                    CAPTURE(s.d_in);
                    CpuBackend be16(threads, 1e9, dt), be32(threads, 1e9);
                    const std::vector<float> x = randn(size_t(s.n * s.d_in), 1),
                                             wv = randn(size_t(s.d_out * s.d_in), 2), bv = randn(size_t(s.d_out), 3);
                    Weight w(be16, be32, wv, {s.d_out, s.d_in}), b(be16, be32, bv, {s.d_out});
                    Buffer x16 = activations(be16, x, {s.n, s.d_in}), x32 = activations(be32, x, {s.n, s.d_in});
                    Buffer y16 = be16.alloc(DType::F32, {s.n, s.d_out}), y32 = be32.alloc(DType::F32, {s.n, s.d_out});
                    const int64_t before = be16.memory_usage().allocated;
                    const Tensor &bt16 = b.w16, &bt32 = b.w32;
                    be16.linear(y16, x16, w.w16, &bt16);
                    be32.linear(y32, x32, w.w32, &bt32);
                    std::vector<float> widened = host(w.w32);
                    check_linear(host(y16), host(y32), x, widened, s.n, s.d_in, s.d_out);
                    // The panel is the backend's, counted as its memory: allocated at the first large linear.
                    CHECK(be16.memory_usage().allocated - before ==
                          (s.n > kW16DirectRows ? w16_panel_floats(s.d_in) * 4 : 0));
                    w16_force_portable(false);
                }
}

TEST_CASE("cpu backend, 16-bit weights: linear_stacked, norms, epilogues and embedding equal the fp32 backend's") {
    for (DType dt : {DType::F16, DType::BF16}) {
        CAPTURE(dtype_name(dt));
        CpuBackend be16(2, 1e9, dt), be32(2, 1e9);
        const int64_t n = 6, d = 24, batch = 3;
        const std::vector<float> x = randn(size_t(n * d), 4);
        Weight w(be16, be32, randn(size_t(batch * d * d), 5), {batch * d, d}),
            bias(be16, be32, randn(size_t(batch * d), 6), {batch * d}), g(be16, be32, randn(size_t(d), 7), {d}),
            beta(be16, be32, randn(size_t(d), 8), {d}), table(be16, be32, randn(size_t(5 * d), 9), {5, d});
        const Tensor b16 = bias.w16.tensor().slice_rows(0, d), b32 = bias.w32.tensor().slice_rows(0, d);

        Buffer x16 = activations(be16, x, {n, d}), x32 = activations(be32, x, {n, d});
        Buffer q16 = be16.alloc(DType::F32, {batch, n, d}), q32 = be32.alloc(DType::F32, {batch, n, d});
        be16.linear_stacked(q16, x16, w.w16, bias.w16);
        be32.linear_stacked(q32, x32, w.w32, bias.w32);
        const std::vector<float> got = host(q16), want = host(q32);
        for (size_t i = 0; i < got.size(); i++) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-4));

        // Each op on its own copy of x; the results bit for bit.
        auto same = [&](auto op16, auto op32) {
            Buffer a16 = activations(be16, x, {n, d}), a32 = activations(be32, x, {n, d});
            Buffer o16 = activations(be16, x, {n, d}), o32 = activations(be32, x, {n, d});
            op16(a16.tensor(), o16.tensor());
            op32(a32.tensor(), o32.tensor());
            CHECK(host(a16) == host(a32));
            CHECK(host(o16) == host(o32));
        };
        same([&](const Tensor& a, const Tensor& o) { be16.layer_norm(o, a, g.w16, beta.w16, 1e-5f); },
             [&](const Tensor& a, const Tensor& o) { be32.layer_norm(o, a, g.w32, beta.w32, 1e-5f); });
        same([&](const Tensor& a, const Tensor&) { be16.add_bias(a, b16); },
             [&](const Tensor& a, const Tensor&) { be32.add_bias(a, b32); });
        same([&](const Tensor& a, const Tensor&) { be16.add_bias_relu(a, b16); },
             [&](const Tensor& a, const Tensor&) { be32.add_bias_relu(a, b32); });
        same([&](const Tensor& a, const Tensor& o) { be16.add_residual(a, o, b16); },
             [&](const Tensor& a, const Tensor& o) { be32.add_residual(a, o, b32); });
        same([&](const Tensor& a,
                 const Tensor& o) { be16.add_residual_layer_norm(o, a, o, b16, g.w16, beta.w16, 1e-5f); },
             [&](const Tensor& a,
                 const Tensor& o) { be32.add_residual_layer_norm(o, a, o, b32, g.w32, beta.w32, 1e-5f); });

        // A table of vocabulary rows [10, 15): ids outside give zero rows.
        std::vector<int32_t> idv = {9, 10, 14, 15, 12, 11};
        Buffer ids16 = be16.alloc(DType::I32, {n}), ids32 = be32.alloc(DType::I32, {n});
        be16.copy_from_host(ids16, idv.data());
        be32.copy_from_host(ids32, idv.data());
        Buffer e16 = be16.alloc(DType::F32, {n, d}), e32 = be32.alloc(DType::F32, {n, d});
        be16.embedding(e16, ids16, table.w16, 10);
        be32.embedding(e32, ids32, table.w32, 10);
        CHECK(host(e16) == host(e32));
    }
}

TEST_CASE("cpu backend: weights in a dtype it cannot store are refused, naming it") {
    CHECK_THROWS_WITH(CpuBackend(1, 1e9, DType::I32), doctest::Contains("weights in I32"));
}
