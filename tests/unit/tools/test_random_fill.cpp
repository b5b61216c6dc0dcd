// make-model's random tensors: normal statistics, the same bytes whatever the thread count or tensor length,
// and float16 / bfloat16 rounding identical to dtype.h's scalar conversions.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "tools/random_fill.h"

using namespace ls;

namespace {

std::vector<float> normals_f32(int64_t n, const NormalFill& f, int n_threads = 1) {
    std::vector<float> v(static_cast<size_t>(n));
    fill_normal(v.data(), DType::F32, n, f, n_threads);
    return v;
}

std::vector<uint16_t> normals_16(DType dtype, int64_t n, const NormalFill& f, int n_threads = 1) {
    std::vector<uint16_t> v(static_cast<size_t>(n));
    fill_normal(v.data(), dtype, n, f, n_threads);
    return v;
}

}  // namespace

TEST_CASE("fill_normal draws N(mean, std)") {
    const int64_t n = 1 << 20;
    const auto v = normals_f32(n, {tensor_key(1, "w"), 0.0f, 1.0f});
    double s1 = 0, s2 = 0, s4 = 0, max_abs = 0;
    for (float x : v) {
        s1 += x;
        s2 += double(x) * x;
        s4 += double(x) * x * x * x;
        max_abs = std::max(max_abs, double(std::abs(x)));
    }
    CHECK(std::abs(s1 / n) < 0.005);                  // sd of the mean: 0.001
    CHECK(std::abs(s2 / n - 1.0) < 0.01);             // sd of the variance: 0.0014
    CHECK(std::abs(s4 / n - 3.0) < 0.05);             // a normal's fourth moment; a uniform's would be 1.8
    CHECK(max_abs < 5.8);                              // the 23-bit radius uniforms bound |N|
    CHECK(max_abs > 4.0);                              // ... but the tails are there
    // Fraction within one sd: 68.27% for a normal.
    const double within = double(std::count_if(v.begin(), v.end(), [](float x) { return std::abs(x) < 1.0f; })) / n;
    CHECK(std::abs(within - 0.6827) < 0.003);

    const auto shifted = normals_f32(1000, {tensor_key(1, "w"), 1.0f, 0.5f});
    for (int i = 0; i < 1000; ++i) CHECK(shifted[i] == doctest::Approx(1.0f + 0.5f * v[i]).epsilon(1e-6));
}

TEST_CASE("element i depends only on (key, i): not on threads or tensor length") {
    const NormalFill f{tensor_key(9, "model.decoder.layers.0.fc1.weight"), 0.0f, 0.02f};
    const int64_t n = 3 * (1 << 20) + 1;  // odd, and large enough to be split over 3 threads
    const auto one = normals_f32(n, f, 1);
    CHECK(one == normals_f32(n, f, 2));
    CHECK(one == normals_f32(n, f, 3));
    const auto prefix = normals_f32(1001, f);
    CHECK(std::equal(prefix.begin(), prefix.end(), one.begin()));
    CHECK(normals_16(DType::F16, n, f, 1) == normals_16(DType::F16, n, f, 3));

    CHECK(tensor_key(9, "a") != tensor_key(9, "b"));
    CHECK(tensor_key(9, "a") != tensor_key(10, "a"));
    CHECK(normals_f32(64, {tensor_key(9, "a"), 0.0f, 1.0f}) != normals_f32(64, {tensor_key(10, "a"), 0.0f, 1.0f}));
}

TEST_CASE("half-precision output is the float32 output rounded by dtype.h") {
    // Scales that exercise float16's subnormals (1e-6), its normal range, and overflow to infinity (2e4 · 5.8).
    for (float std : {1e-6f, 0.02f, 1.0f, 3000.0f, 20000.0f}) {
        CAPTURE(std);
        for (float mean : {0.0f, 1.0f}) {
            const NormalFill f{tensor_key(3, "t"), mean, std};
            const int64_t n = 50001;
            const auto ref = normals_f32(n, f);
            const auto f16 = normals_16(DType::F16, n, f);
            const auto bf16 = normals_16(DType::BF16, n, f);
            int64_t f16_bad = 0, bf16_bad = 0;
            for (int64_t i = 0; i < n; ++i) {
                f16_bad += f16[i] != f32_to_f16(ref[i]);
                bf16_bad += bf16[i] != f32_to_bf16(ref[i]);
            }
            CHECK(f16_bad == 0);
            CHECK(bf16_bad == 0);
        }
    }
}
