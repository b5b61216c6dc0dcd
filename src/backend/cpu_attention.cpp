#include "backend/cpu_attention.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu_softmax.h"
#include "core/check.h"

namespace ls {

namespace {

// Rows of a prefill's queries scored at once: small enough that a causal tile wastes few masked scores,
// large enough for the GEMMs to run at speed.
constexpr int64_t kQueryTile = 128;

struct Shape {
    int64_t n_heads, d_head, d_row, block_size;
};

// The cache row of a sequence's token j: its block from the table, then its place in the block.
inline int64_t slot_of(const int32_t* table, int64_t j, int64_t block_size) {
    return int64_t(table[j / block_size]) * block_size + j % block_size;
}

// GCC's vector types of 8 floats: one register on AVX2, half of one on AVX-512. A dot product keeps kCpuLanes
// (16) running sums, element e in sum e % 16, as two 8-float halves, and adds them up as a tree of shuffles,
// not by 16 dependent adds through memory, which is what -O2 makes of a float[kCpuLanes] and what cost a score
// more than its multiplies. Not one 16-float vector: on AVX2 GCC moved its halves through the stack, and one
// opt-125m decode attention (12 heads, 1152 keys, from cache) took 965 µs on one core instead of 192 µs in
// halves (scripts/cpu_attention_bench.cpp, results/cpu-decode-attention-avx2). The halves give the same sums
// in the same order, so the same bits.
// (GCC notes that passing such a vector by value differs between instruction sets: these helpers are inlined
// into each clone, never called across that boundary.)
#pragma GCC diagnostic ignored "-Wpsabi"
static_assert(kCpuLanes == 16, "dot() keeps its 16 running sums as two halves of 8");
using Half = float __attribute__((vector_size(8 * sizeof(float))));
using Quarter = float __attribute__((vector_size(4 * sizeof(float))));

inline Half load_half(const float* p) {
    Half v;
    std::memcpy(&v, p, sizeof v);  // unaligned
    return v;
}

// The 16 running sums lo[0..7], hi[0..7] (lanes 0-7 and 8-15) added up: lane i with lane i + 8, then i + 4,
// then the last four pairwise.
inline float sum_lanes(Half lo, Half hi) {
    const Half h = lo + hi;
    const Quarter q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
    return (q[0] + q[2]) + (q[1] + q[3]);
}

inline float dot(const float* a, const float* b, int64_t n) {
    Half lo = {}, hi = {};
    int64_t e = 0;
    for (; e + kCpuLanes <= n; e += kCpuLanes) {
        lo += load_half(a + e) * load_half(b + e);
        hi += load_half(a + e + 8) * load_half(b + e + 8);
    }
    float s = sum_lanes(lo, hi);
    for (; e < n; e++) s += a[e] * b[e];
    return s;
}

inline void axpy(float* __restrict y, float a, const float* __restrict x, int64_t n) {
    int64_t e = 0;
    for (; e + kCpuLanes <= n; e += kCpuLanes)
        for (int l = 0; l < kCpuLanes; l++) y[e + l] += a * x[e + l];
    for (; e < n; e++) y[e] += a * x[e];
}

// Heads [h0, h1) of one query that sees keys 0..n_see-1 of its sequence, straight from the paged cache: one
// pass over the K rows for the scores (each row's heads are contiguous), a softmax per head, one pass over the
// V rows. q_scaled: the query's heads [h0, h1) times the scale; score: room for (h1 - h0) · n_see floats.
// One clone per instruction set, as softmax_inplace; dot and axpy are inlined into each.
__attribute__((target_clones("avx512f", "avx2", "default"))) void attend_direct(
    float* out, const float* q_scaled, const float* k_cache, const float* v_cache, const int32_t* table,
    int64_t n_see, int64_t h0, int64_t h1, const Shape& sh, float* score) {
    const int64_t nh = h1 - h0, off = h0 * sh.d_head, dh = sh.d_head;
    auto row = [&](int64_t j) { return slot_of(table, j, sh.block_size) * sh.d_row + off; };
    for (int64_t j = 0; j < n_see; j++) {
        const float* kr = k_cache + row(j);
        for (int64_t h = 0; h < nh; h++) score[h * n_see + j] = dot(q_scaled + h * dh, kr + h * dh, dh);
    }
    for (int64_t h = 0; h < nh; h++) softmax_inplace(score + h * n_see, n_see);
    std::fill(out + off, out + off + nh * dh, 0.0f);
    for (int64_t j = 0; j < n_see; j++) {
        const float* vr = v_cache + row(j);
        for (int64_t h = 0; h < nh; h++) axpy(out + off + h * dh, score[h * n_see + j], vr + h * dh, dh);
    }
}

// The gathered K and V and the scores of attend_gemm, kept from one sequence to the next.
struct GemmScratch {
    std::vector<float> k, v, score;
};

// A prompt's queries [q0, q0 + n_q) of one sequence: its context gathered into contiguous K and V, then per
// tile of queries and per head score = scale · Q Kᵀ (one GEMM), a causal softmax per row, out = P V (another).
void attend_gemm(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                 const int32_t* table, const int32_t* pos, int64_t q0, int64_t n_q, const Shape& sh, float scale,
                 GemmScratch& scratch) {
    const int64_t n_ctx = int64_t(pos[q0 + n_q - 1]) + 1, d_row = sh.d_row, d_head = sh.d_head;
    std::vector<float>& k = scratch.k;
    std::vector<float>& v = scratch.v;
    std::vector<float>& score = scratch.score;
    k.resize(size_t(n_ctx * d_row));
    v.resize(size_t(n_ctx * d_row));
    for (int64_t j = 0; j < n_ctx; j++) {
        const int64_t slot = slot_of(table, j, sh.block_size);
        std::memcpy(&k[size_t(j * d_row)], k_cache.f32() + slot * d_row, size_t(d_row) * 4);
        std::memcpy(&v[size_t(j * d_row)], v_cache.f32() + slot * d_row, size_t(d_row) * 4);
    }
    const int64_t tile = std::min<int64_t>(n_q, kQueryTile);
    score.resize(size_t(tile * n_ctx));
    for (int64_t i0 = 0; i0 < n_q; i0 += tile) {
        const int64_t n_t = std::min(tile, n_q - i0), n_keys = int64_t(pos[q0 + i0 + n_t - 1]) + 1;
        const float* qt = q.f32() + (q0 + i0) * d_row;
        float* ot = out.f32() + (q0 + i0) * d_row;
        for (int64_t h = 0; h < sh.n_heads; h++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n_t), int(n_keys), int(d_head), scale,
                        qt + h * d_head, int(d_row), k.data() + h * d_head, int(d_row), 0.0f, score.data(),
                        int(n_keys));
            for (int64_t i = 0; i < n_t; i++) {  // causal: query i sees positions 0..pos[i]
                float* row = &score[size_t(i * n_keys)];
                const int64_t n_see = int64_t(pos[q0 + i0 + i]) + 1;
                softmax_inplace(row, n_see);
                std::fill(row + n_see, row + n_keys, 0.0f);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n_t), int(d_head), int(n_keys), 1.0f,
                        score.data(), int(n_keys), v.data() + h * d_head, int(d_row), 0.0f, ot + h * d_head,
                        int(d_row));
        }
    }
}

struct DirectQuery {
    int64_t row, seq, n_see;
};

}  // namespace

void paged_attention_cpu(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                         const AttentionInputs& in, int n_heads, float scale, WorkerPool& pool) {
    const Shape sh{n_heads, q.cols() / n_heads, q.cols(), in.block_size};
    const int64_t n_seqs = in.query_start.numel() - 1, max_blocks = in.block_tables.cols();
    const int32_t* qs = in.query_start.i32();
    const int32_t* pos = in.positions.i32();
    const int32_t* tables = in.block_tables.i32();
    std::vector<DirectQuery> direct;
    GemmScratch scratch;
    for (int64_t s = 0; s < n_seqs; s++) {
        const int64_t q0 = qs[s], n_q = qs[s + 1] - q0;
        if (n_q == 0) continue;
        const int64_t n_ctx = int64_t(pos[q0 + n_q - 1]) + 1;  // the last query sees the whole context
        const int64_t n_blocks = (n_ctx + sh.block_size - 1) / sh.block_size;
        ENSURE(n_blocks <= max_blocks, "attention: position ", n_ctx - 1, " beyond the block table");
        for (int64_t b = 0; b < n_blocks; b++) {  // a corrupt table must not read outside the cache
            const int64_t block = tables[s * max_blocks + b];
            ENSURE(block >= 0 && (block + 1) * sh.block_size <= k_cache.rows(), "attention: sequence ", s,
                   "'s block ", b, " is ", block, ", outside the cache's ", k_cache.rows() / sh.block_size,
                   " blocks");
        }
        if (n_q > kDirectQueries) {  // OpenBLAS threads these GEMMs itself: on this thread, one at a time
            attend_gemm(out, q, k_cache, v_cache, tables + s * max_blocks, pos, q0, n_q, sh, scale, scratch);
            continue;
        }
        for (int64_t t = q0; t < q0 + n_q; t++) direct.push_back({t, s, int64_t(pos[t]) + 1});
    }
    if (direct.empty()) return;

    // The direct queries' (query, head) pairs, in order, cut into one contiguous range per thread of about equal
    // work (a pair's work is its key count). Each head is computed alike whichever thread takes it.
    const int64_t n_pairs = int64_t(direct.size()) * n_heads;
    int64_t total = 0;
    for (const DirectQuery& d : direct) total += d.n_see * n_heads;
    const int64_t n_parts = std::clamp<int64_t>(total * sh.d_head * 2 / kDirectWorkPerThread, 1, pool.size());
    std::vector<int64_t> cut{0};  // part k: pairs [cut[k], cut[k + 1])
    for (int64_t p = 0, before = 0; p < n_pairs; p++) {  // before: the work of the pairs before p
        if (int64_t(cut.size()) < n_parts && before * n_parts >= total * int64_t(cut.size())) cut.push_back(p);
        before += direct[size_t(p / n_heads)].n_see;
    }
    cut.push_back(n_pairs);

    auto run = [&](int64_t p0, int64_t p1) {  // pair i·n_heads + h is direct query i, head h
        std::vector<float> q_scaled(size_t(sh.d_row)), score;
        for (int64_t p = p0; p < p1;) {
            const DirectQuery& d = direct[size_t(p / n_heads)];
            const int64_t h0 = p % n_heads, h1 = std::min<int64_t>(n_heads, h0 + (p1 - p));
            const float* qr = q.f32() + d.row * sh.d_row + h0 * sh.d_head;
            for (int64_t e = 0; e < (h1 - h0) * sh.d_head; e++) q_scaled[size_t(e)] = qr[e] * scale;
            score.resize(size_t((h1 - h0) * d.n_see));
            attend_direct(out.f32() + d.row * sh.d_row, q_scaled.data(), k_cache.f32(), v_cache.f32(),
                          tables + d.seq * max_blocks, d.n_see, h0, h1, sh, score.data());
            p += h1 - h0;
        }
    };
    pool.run(int(cut.size()) - 1, [&](int k) { run(cut[size_t(k)], cut[size_t(k) + 1]); });
}

}  // namespace ls
