// Helpers of the op-by-op backend tests (tests/gpu/test_cuda_backend.cpp on a GPU, tests/unit/kernels on the
// CPU's emulation of one): random inputs with a fixed seed, rounded to the dtype under test so that both sides
// see the same values, and an error relative to the largest reference value. Include after doctest.
#pragma once
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "core/dtype.h"

namespace ls::op_check {

// Relative to the largest reference value. fp32 (TF32 off): only summation order differs, ~1e-6 at these
// sizes. F16/BF16: the output is rounded to 11/8 significant bits (relative 4.9e-4 / 3.9e-3 per element);
// the bounds leave a few ulps of headroom for fp32 sums done in another order.
inline double tolerance(DType dt) { return dt == DType::F32 ? 1e-5 : dt == DType::F16 ? 1e-2 : 3e-2; }

inline std::vector<float> randn(size_t n, float scale = 1.0f, float shift = 0.0f) {
    static std::mt19937 rng(1234);
    std::normal_distribution<float> dist(shift, scale);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

inline std::vector<uint16_t> to_bits(DType dt, const std::vector<float>& v) {
    std::vector<uint16_t> out(v.size());
    for (size_t i = 0; i < v.size(); i++) out[i] = dt == DType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
    return out;
}

inline std::vector<float> rounded(DType dt, std::vector<float> v) {  // v as dt holds it
    if (dt == DType::F32) return v;
    const auto bits = to_bits(dt, v);
    convert_to_f32(bits.data(), dt, v.data(), v.size());
    return v;
}

inline Buffer put(Backend& b, DType dt, const std::vector<float>& v, std::initializer_list<int64_t> shape) {
    Buffer buf = b.alloc(dt, shape);
    REQUIRE(size_t(buf.tensor().numel()) == v.size());
    if (dt == DType::F32) {
        b.copy_from_host(buf, v.data());
    } else {
        const auto bits = to_bits(dt, v);
        b.copy_from_host(buf, bits.data());
    }
    return buf;
}

inline Buffer put_i32(Backend& b, const std::vector<int32_t>& v, std::initializer_list<int64_t> shape) {
    Buffer buf = b.alloc(DType::I32, shape);
    b.copy_from_host(buf, v.data());
    return buf;
}

inline std::vector<float> get(Backend& b, const Tensor& t) {
    std::vector<float> out(size_t(t.numel()));
    if (t.dtype == DType::F32) {
        b.copy_to_host(out.data(), t);
    } else {
        std::vector<uint16_t> bits(out.size());
        b.copy_to_host(bits.data(), t);
        convert_to_f32(bits.data(), t.dtype, out.data(), out.size());
    }
    return out;
}

inline double rel_err(const std::vector<float>& got, const std::vector<float>& want) {
    REQUIRE(got.size() == want.size());
    double diff = 0, scale = 1e-6;
    for (size_t i = 0; i < got.size(); i++) {
        const double e = std::fabs(double(got[i]) - double(want[i]));
        if (!(e <= diff)) diff = e;  // not std::max, which drops a NaN: a NaN output must fail
        scale = std::max(scale, double(std::fabs(want[i])));
    }
    return std::isfinite(diff) ? diff / scale : INFINITY;
}

}  // namespace ls::op_check

#define EXPECT_CLOSE(got, want, dt) CHECK(::ls::op_check::rel_err(got, want) <= ::ls::op_check::tolerance(dt))
