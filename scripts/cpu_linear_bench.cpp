// Times the CPU backend's linear alone, y[n, d_out] = x[n, d_in] · wᵀ, with the weights in fp32, fp16 and bf16
// (--dtype on the CPU): µs per call and the weight bytes read per second. The default weight, opt-125m's LM
// head (50272 × 768: 154 MB in fp32, 77 MB in 16 bits), is larger than a last-level cache, so batch-1 decode
// reads it from memory each call, as a model's decode step reads its weights.
// Built with the rest (CMakeLists.txt):
//   build/cpu_linear_bench [D_OUT=50272] [D_IN=768] [N=1] [THREADS=1]
// THREADS is the backend's (OpenBLAS's and the 16-bit path's own); a rank of TP=2 on 2 cores has 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "backend/cpu_backend.h"
#include "core/dtype.h"

using namespace ls;

int main(int argc, char** argv) {
    const int64_t d_out = argc > 1 ? std::atoll(argv[1]) : 50272, d_in = argc > 2 ? std::atoll(argv[2]) : 768;
    const int64_t n = argc > 3 ? std::atoll(argv[3]) : 1;
    const int threads = argc > 4 ? std::atoi(argv[4]) : 1;
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> w(size_t(d_out * d_in)), x(size_t(n * d_in));
    for (float& v : w) v = normal(rng);
    for (float& v : x) v = normal(rng);
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
        CpuBackend be(threads, 1e12, dt);
        Buffer W = be.alloc(dt, {d_out, d_in}), X = be.alloc(DType::F32, {n, d_in});
        Buffer Y = be.alloc(DType::F32, {n, d_out});
        if (dt == DType::F32) {
            be.copy_from_host(W, w.data());
        } else {
            std::vector<uint16_t> h(w.size());
            for (size_t i = 0; i < w.size(); i++) h[i] = dt == DType::F16 ? f32_to_f16(w[i]) : f32_to_bf16(w[i]);
            be.copy_from_host(W, h.data());
        }
        be.copy_from_host(X, x.data());
        for (int r = 0; r < 3; r++) be.linear(Y, X, W, nullptr);
        const int reps = 20;
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; r++) be.linear(Y, X, W, nullptr);
        const double us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
        std::printf("%-8s [%lld, %lld] x %lld rows, %d thread(s): %9.1f us per call, %6.2f GB/s of weights\n",
                    dtype_torch_name(dt), (long long)d_out, (long long)d_in, (long long)n, threads, us,
                    double(W.nbytes()) / us / 1e3);
    }
}
