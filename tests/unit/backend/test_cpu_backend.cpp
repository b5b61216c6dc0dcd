// The CPU backend's ops against straightforward double-precision references.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu_attention.h"
#include "backend/cpu_backend.h"

using namespace ls;

namespace {
std::vector<float> randn(size_t n, uint64_t seed) {
    std::mt19937_64 g(seed);
    std::normal_distribution<float> d;
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}
Buffer from(CpuBackend& be, const std::vector<float>& v, std::initializer_list<int64_t> shape) {
    Buffer b = be.alloc(DType::F32, shape);
    be.copy_from_host(b, v.data());
    return b;
}
Buffer ints(CpuBackend& be, const std::vector<int32_t>& v) {
    Buffer b = be.alloc(DType::I32, {int64_t(v.size())});
    be.copy_from_host(b, v.data());
    return b;
}
}  // namespace

TEST_CASE("cpu backend: linear is x·wᵀ + b") {
    CpuBackend be(1, 1e9);
    const int n = 3, d_in = 5, d_out = 4;
    auto x = randn(n * d_in, 1), w = randn(d_out * d_in, 2), b = randn(d_out, 3);
    Buffer X = from(be, x, {n, d_in}), W = from(be, w, {d_out, d_in}), B = from(be, b, {d_out});
    Buffer Y = be.alloc(DType::F32, {n, d_out});
    const Tensor& bt = B;
    be.linear(Y, X, W, &bt);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < d_out; o++) {
            double ref = b[size_t(o)];
            for (int k = 0; k < d_in; k++) ref += double(x[size_t(i * d_in + k)]) * w[size_t(o * d_in + k)];
            CHECK(Y.tensor().f32()[i * d_out + o] == doctest::Approx(ref).epsilon(1e-5));
        }
}

TEST_CASE("cpu backend: linear_stacked is one linear per weight block, into rows [0, n) of each output block") {
    CpuBackend be(1, 1e9);
    const int n = 3, cap = 5, d_in = 6, d_out = 4, batch = 3;  // q, k, v with room for 5 tokens, 3 used
    auto x = randn(n * d_in, 7), w = randn(batch * d_out * d_in, 8), b = randn(batch * d_out, 9);
    Buffer X = from(be, x, {n, d_in}), W = from(be, w, {batch * d_out, d_in}), B = from(be, b, {batch * d_out});
    Buffer Y = be.alloc(DType::F32, {batch, cap, d_out});
    be.linear_stacked(Y, X, W, B);
    for (int k = 0; k < batch; k++)
        for (int i = 0; i < cap; i++)
            for (int o = 0; o < d_out; o++) {
                const float got = Y.tensor().f32()[(k * cap + i) * d_out + o];
                if (i >= n) {  // rows past n are not written
                    CHECK(got == 0.0f);
                    continue;
                }
                double ref = b[size_t(k * d_out + o)];
                for (int j = 0; j < d_in; j++)
                    ref += double(x[size_t(i * d_in + j)]) * w[size_t((k * d_out + o) * d_in + j)];
                CHECK(got == doctest::Approx(ref).epsilon(1e-5));
            }
    Buffer Bad = be.alloc(DType::F32, {batch, n - 1, d_out});  // fewer rows than x
    CHECK_THROWS_WITH(be.linear_stacked(Bad, X, W, B), doctest::Contains("linear_stacked"));
}

TEST_CASE("cpu backend: layer norm, the GEMM epilogues, masked embedding") {
    CpuBackend be(1, 1e9);
    auto x = randn(2 * 8, 4), g = randn(8, 5), bb = randn(8, 6);
    Buffer X = from(be, x, {2, 8}), G = from(be, g, {8}), Bb = from(be, bb, {8}), Y = be.alloc(DType::F32, {2, 8});
    be.layer_norm(Y, X, G, Bb, 1e-5f);
    for (int i = 0; i < 2; i++) {
        double m = 0, v = 0;
        for (int j = 0; j < 8; j++) m += x[size_t(i * 8 + j)];
        m /= 8;
        for (int j = 0; j < 8; j++) v += (x[size_t(i * 8 + j)] - m) * (x[size_t(i * 8 + j)] - m);
        v /= 8;
        for (int j = 0; j < 8; j++)
            CHECK(Y.tensor().f32()[i * 8 + j] ==
                  doctest::Approx((x[size_t(i * 8 + j)] - m) / std::sqrt(v + 1e-5) * g[size_t(j)] + bb[size_t(j)])
                      .epsilon(1e-5));
    }
    // fc1's bias + relu, and a row-parallel output with its bias into the residual stream.
    Buffer H = from(be, g, {1, 8}), Yr = from(be, bb, {1, 8});
    be.add_residual(H, Yr, Bb);
    for (int j = 0; j < 8; j++) CHECK(H.tensor().f32()[j] == g[size_t(j)] + (bb[size_t(j)] + bb[size_t(j)]));
    be.add_bias_relu(X, G);
    for (int i = 0; i < 16; i++) CHECK(X.tensor().f32()[i] == std::max(0.0f, x[size_t(i)] + g[size_t(i % 8)]));

    // A table holding vocab rows [10, 13): ids outside give zero rows.
    auto table = randn(3 * 4, 7);
    Buffer T = from(be, table, {3, 4}), ids = ints(be, {9, 10, 12, 13}), E = be.alloc(DType::F32, {4, 4});
    be.embedding(E, ids, T, 10);
    for (int j = 0; j < 4; j++) {
        CHECK(E.tensor().f32()[0 * 4 + j] == 0.0f);
        CHECK(E.tensor().f32()[1 * 4 + j] == table[size_t(0 * 4 + j)]);
        CHECK(E.tensor().f32()[2 * 4 + j] == table[size_t(2 * 4 + j)]);
        CHECK(E.tensor().f32()[3 * 4 + j] == 0.0f);
    }
}

TEST_CASE("cpu backend: residual add fused with the next norm is exactly the two ops, into x or in place") {
    CpuBackend be(1, 1e9);
    const int n = 3, d = 16;
    auto h = randn(n * d, 11), y = randn(n * d, 12), b = randn(d, 13), g = randn(d, 14), beta = randn(d, 15);
    for (float& v : h) v += 40.0f;  // rows with a large mean, as a residual stream has
    Buffer Y = from(be, y, {n, d}), B = from(be, b, {d}), G = from(be, g, {d}), Be = from(be, beta, {d});
    for (bool in_place : {false, true}) {
        CAPTURE(in_place);
        Buffer H1 = from(be, h, {n, d}), H2 = from(be, h, {n, d});
        Buffer X1 = be.alloc(DType::F32, {n, d}), X2 = be.alloc(DType::F32, {n, d});
        const Tensor& out1 = in_place ? H1.tensor() : X1.tensor();
        const Tensor& out2 = in_place ? H2.tensor() : X2.tensor();
        be.add_residual(H1, Y, B);
        be.layer_norm(out1, H1, G, Be, 1e-5f);
        be.add_residual_layer_norm(out2, H2, Y, B, G, Be, 1e-5f);
        CHECK(std::memcmp(out1.f32(), out2.f32(), size_t(n * d) * 4) == 0);
        CHECK(std::memcmp(H1.tensor().f32(), H2.tensor().f32(), size_t(n * d) * 4) == 0);  // the stream, too
        if (!in_place) CHECK(H2.tensor().f32()[5] == h[5] + (y[5] + b[5]));
    }
    Buffer Short = be.alloc(DType::F32, {n - 1, d}), H = from(be, h, {n, d});
    CHECK_THROWS_WITH(be.add_residual_layer_norm(Short, H, Y, B, G, Be, 1e-5f),
                      doctest::Contains("add_residual_layer_norm"));
}

namespace {
// One query head's causal attention over keys 0..n_keys-1 in double precision: softmax(scale · q · k_j) · v_j.
// key(j, e), value(j, e): element e of the head's key and value j.
template <class Key, class Value>
std::vector<double> dense_attention(const float* q, int n_keys, int d_head, double scale, Key key, Value value) {
    std::vector<double> w(static_cast<size_t>(n_keys)), out(static_cast<size_t>(d_head), 0.0);
    double m = -1e300, sum = 0;
    for (int j = 0; j < n_keys; j++) {
        double dot = 0;
        for (int e = 0; e < d_head; e++) dot += double(q[e]) * key(j, e);
        m = std::max(m, w[size_t(j)] = dot * scale);
    }
    for (auto& x : w) sum += (x = std::exp(x - m));
    for (int e = 0; e < d_head; e++)
        for (int j = 0; j < n_keys; j++) out[size_t(e)] += w[size_t(j)] / sum * value(j, e);
    return out;
}

// Attention of the queries at positions [first, n) of one sequence of n tokens whose K/V sit in the blocks of
// `table` (bs tokens each, scattered over a cache of table.size() + 1 blocks), against a dense double reference.
void check_paged_attention(int n, int first, const std::vector<int32_t>& table) {
    CpuBackend be(1, 1e9);
    const int n_heads = 2, d_head = 4, d = n_heads * d_head, bs = 2, n_q = n - first;
    auto q = randn(n * d, 8), k = randn(n * d, 9), v = randn(n * d, 10);
    std::vector<int32_t> slots, pos;
    for (int p = 0; p < n; p++) slots.push_back(table[size_t(p / bs)] * bs + p % bs);
    for (int p = first; p < n; p++) pos.push_back(p);
    Buffer Q = from(be, q, {n, d}), K = from(be, k, {n, d}), V = from(be, v, {n, d});
    const int64_t n_blocks = int64_t(table.size()) + 1;
    Buffer Kc = be.alloc(DType::F32, {n_blocks * bs, d}), Vc = be.alloc(DType::F32, {n_blocks * bs, d});
    Buffer S = ints(be, slots), P = ints(be, pos), QS = ints(be, {0, n_q});
    Buffer BT = be.alloc(DType::I32, {1, int64_t(table.size())});
    be.copy_from_host(BT, table.data());
    be.write_kv(Kc, Vc, K, V, S);
    Buffer O = be.alloc(DType::F32, {n_q, d});
    const float scale = 0.5f;
    be.attention(O, Q.tensor().slice_rows(first, n), Kc, Vc, {QS, P, BT, bs}, n_heads, scale);
    for (int t = first; t < n; t++)
        for (int h = 0; h < n_heads; h++) {
            auto at = [&](const std::vector<float>& c) {
                return [&c, h, d](int j, int e) { return double(c[size_t(j * d + h * d_head + e)]); };
            };
            const auto ref = dense_attention(&q[size_t(t * d + h * d_head)], t + 1, d_head, scale, at(k), at(v));
            const float* out = O.tensor().f32() + (t - first) * d + h * d_head;
            for (int e = 0; e < d_head; e++) CHECK(out[e] == doctest::Approx(ref[size_t(e)]).epsilon(1e-4));
        }
}
}  // namespace

TEST_CASE("cpu backend: paged attention equals dense causal attention") {
    // One sequence of 5 tokens scattered over blocks 3, 0, 2 of a 4-block cache.
    check_paged_attention(5, 0, {3, 0, 2});
    // A prefill of 300 queries: three tiles of queries (128, 128, 44), each scored against the keys it sees;
    // then a later chunk, queries 200..299 over the whole context.
    std::vector<int32_t> reversed(150);
    for (int i = 0; i < 150; i++) reversed[size_t(i)] = 150 - i;
    check_paged_attention(300, 0, reversed);
    check_paged_attention(300, 200, reversed);
}

TEST_CASE("cpu backend: attention of decodes, short chunks and a prompt in one batch, on 1 or 3 threads") {
    // Each sequence: its context and how many of its last tokens are queries. Up to kDirectQueries queries read
    // the cache directly; 40 go through the GEMMs. d_head 72: four blocks of 16 lanes and a tail of 8.
    struct Seq {
        int n_ctx, n_q;
    };
    const std::vector<Seq> seqs = {{700, 1}, {1, 1}, {33, 3}, {512, 1}, {300, 40}, {900, 1}, {17, int(kDirectQueries)}};
    const int n_heads = 10, d_head = 72, d = n_heads * d_head, bs = 16;
    int64_t n_blocks = 0, n_tokens = 0, direct_work = 0;
    for (const Seq& s : seqs) {
        n_blocks += (s.n_ctx + bs - 1) / bs;
        n_tokens += s.n_q;
        if (s.n_q <= kDirectQueries)
            for (int t = s.n_ctx - s.n_q; t < s.n_ctx; t++) direct_work += int64_t(t + 1) * n_heads * d_head * 2;
    }
    REQUIRE(direct_work >= 3 * kDirectWorkPerThread);  // enough for three threads to take a share each
    std::vector<int32_t> pool(static_cast<size_t>(n_blocks));  // the sequences' blocks, shuffled over the cache
    for (int32_t i = 0; i < int32_t(n_blocks); i++) pool[size_t(i)] = i;
    std::shuffle(pool.begin(), pool.end(), std::mt19937(7));
    const int max_blocks = (900 + bs - 1) / bs;
    std::vector<int32_t> tables(seqs.size() * max_blocks, 0), query_start{0}, pos, slots;
    std::vector<float> q = randn(size_t(n_tokens * d), 21), k = randn(size_t(n_blocks * bs * d), 22),
                       v = randn(size_t(n_blocks * bs * d), 23);
    size_t next = 0;
    for (size_t s = 0; s < seqs.size(); s++) {
        for (int b = 0; b < (seqs[s].n_ctx + bs - 1) / bs; b++) tables[s * max_blocks + size_t(b)] = pool[next++];
        for (int t = seqs[s].n_ctx - seqs[s].n_q; t < seqs[s].n_ctx; t++) pos.push_back(t);
        query_start.push_back(query_start.back() + seqs[s].n_q);
    }
    CpuBackend be(1, 1e9);
    Buffer Kc = from(be, k, {n_blocks * bs, d}), Vc = from(be, v, {n_blocks * bs, d}), Q = from(be, q, {n_tokens, d});
    Buffer QS = ints(be, query_start), P = ints(be, pos), BT = be.alloc(DType::I32, {int64_t(seqs.size()), max_blocks});
    be.copy_from_host(BT, tables.data());
    const float scale = 1.0f / std::sqrt(float(d_head));
    Buffer O1 = be.alloc(DType::F32, {n_tokens, d}), O3 = be.alloc(DType::F32, {n_tokens, d});
    WorkerPool one(1), three(3);
    paged_attention_cpu(O1, Q, Kc, Vc, {QS, P, BT, bs}, n_heads, scale, one);
    paged_attention_cpu(O3, Q, Kc, Vc, {QS, P, BT, bs}, n_heads, scale, three);
    // A head's result does not depend on which thread computed it.
    CHECK(std::memcmp(O1.tensor().f32(), O3.tensor().f32(), size_t(n_tokens * d) * 4) == 0);

    int64_t row = 0;
    for (size_t s = 0; s < seqs.size(); s++)
        for (int t = seqs[s].n_ctx - seqs[s].n_q; t < seqs[s].n_ctx; t++, row++)
            for (int h = 0; h < n_heads; h++) {
                CAPTURE(s);
                CAPTURE(t);
                CAPTURE(h);
                auto at = [&](const std::vector<float>& c) {  // through the sequence's block table
                    return [&, h](int j, int e) {
                        const int64_t slot = int64_t(tables[s * max_blocks + size_t(j / bs)]) * bs + j % bs;
                        return double(c[size_t(slot * d + h * d_head + e)]);
                    };
                };
                const auto ref =
                    dense_attention(&q[size_t(row * d + h * d_head)], t + 1, d_head, scale, at(k), at(v));
                for (int e = 0; e < d_head; e++)
                    CHECK(O1.tensor().f32()[row * d + h * d_head + e] == doctest::Approx(ref[size_t(e)]).epsilon(1e-4));
            }

    tables[3 * max_blocks + 5] = int32_t(n_blocks);  // one past the cache's last block
    be.copy_from_host(BT, tables.data());
    const std::string why = "sequence 3's block 5 is " + std::to_string(n_blocks) + ", outside the cache";
    CHECK_THROWS_WITH(paged_attention_cpu(O1, Q, Kc, Vc, {QS, P, BT, bs}, n_heads, scale, one),
                      doctest::Contains(why.c_str()));
}
