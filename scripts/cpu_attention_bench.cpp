// Times the CPU backend's paged attention for decode queries (one per sequence) alone, outside a model run:
// n_heads 12 × d_head 64 (opt-125m), the context in consecutive blocks of 16, random K/V, 50 calls after 3
// warm-ups; prints µs per call and the K+V bytes read per µs. A context of ~1k keys (7 MB) sits in a large
// last-level cache, so this is the op's compute cost; a model run reads K/V from memory.
// Built with the rest (CMakeLists.txt); run with one BLAS thread:
//   OPENBLAS_NUM_THREADS=1 build/cpu_attention_bench [CONTEXT=1152] [THREADS=1] [SEQUENCES=1]
// The figures in results/cpu-decode-attention-avx2 came from it compiled by hand against each tree's libraries:
//   g++ -O2 -std=c++20 -I src scripts/cpu_attention_bench.cpp build/libls_backend.a build/libls_core.a
//       -lopenblas -lpthread
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

#include "backend/cpu_attention.h"

using namespace ls;

int main(int argc, char** argv) {
    const int n_ctx = argc > 1 ? std::atoi(argv[1]) : 1152, threads = argc > 2 ? std::atoi(argv[2]) : 1;
    const int n_seqs = argc > 3 ? std::atoi(argv[3]) : 1;
    const int n_heads = 12, d_head = 64, d = n_heads * d_head, bs = 16, n_blocks = (n_ctx + bs - 1) / bs;
    const int64_t slots = int64_t(n_blocks) * bs * n_seqs;
    std::vector<float> k(size_t(slots) * d), v(size_t(slots) * d), q(size_t(n_seqs) * d), out(size_t(n_seqs) * d);
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    for (auto* buf : {&k, &v, &q})
        for (float& x : *buf) x = normal(rng);
    std::vector<int32_t> tables(size_t(n_blocks) * n_seqs), query_start(n_seqs + 1), pos(n_seqs);
    std::iota(tables.begin(), tables.end(), 0);
    std::iota(query_start.begin(), query_start.end(), 0);
    std::fill(pos.begin(), pos.end(), n_ctx - 1);
    const Tensor O = make_tensor(out.data(), DType::F32, {n_seqs, d});
    const Tensor Q = make_tensor(q.data(), DType::F32, {n_seqs, d});
    const Tensor K = make_tensor(k.data(), DType::F32, {slots, d}), V = make_tensor(v.data(), DType::F32, {slots, d});
    const AttentionInputs in{make_tensor(query_start.data(), DType::I32, {n_seqs + 1}),
                             make_tensor(pos.data(), DType::I32, {n_seqs}),
                             make_tensor(tables.data(), DType::I32, {n_seqs, n_blocks}), bs};
    WorkerPool pool(threads);
    const float scale = 1.0f / 8.0f;
    for (int w = 0; w < 3; w++) paged_attention_cpu(O, Q, K, V, in, n_heads, scale, pool);
    const int reps = 50;
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; r++) paged_attention_cpu(O, Q, K, V, in, n_heads, scale, pool);
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
    const double bytes = 2.0 * n_ctx * d * sizeof(float) * n_seqs;
    std::printf("context %d, %d sequence(s), %d thread(s): %.1f us per call, %.2f GB/s of K+V\n", n_ctx, n_seqs,
                threads, us, bytes / us / 1e3);
}
