// CUDA backend vs CPU backend, op by op (llama.cpp test-backend-ops style): random inputs with a fixed seed,
// rounded to the dtype under test and fed to both, so the difference is only the op's own arithmetic and the
// output rounding. Without a GPU it checks the no-device path and exits 77 (ctest: skipped).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <numeric>
#include <random>

#include "backend/cpu_backend.h"
#include "backend/cuda_backend.h"
#include "kernels.h"
#include "op_check.h"

using namespace ls;
using namespace ls::op_check;

namespace {

const DType kDtypes[] = {DType::F32, DType::F16, DType::BF16};

CudaBackend& gpu(DType dt) {
    static std::map<DType, std::unique_ptr<CudaBackend>> backends;
    auto& b = backends[dt];
    if (!b) {
        BackendConfig cfg;
        cfg.device = "cuda";
        cfg.dtype = dt;
        b = std::make_unique<CudaBackend>(cfg);
    }
    return *b;
}

CpuBackend& cpu() {
    static CpuBackend b(1, 1e9);
    return b;
}

}  // namespace

TEST_CASE("device and name") {
    std::string why;
    CHECK(cuda_device_count(&why) > 0);
    CHECK(gpu(DType::F32).name().rfind("cuda:0 (", 0) == 0);
    CHECK(gpu(DType::F32).device_used_bytes() > 0);
    CHECK(gpu(DType::F32).total_memory() > 0);
}

TEST_CASE("linear") {
    struct Shape {
        int64_t n, d_in, d_out;
    };
    // Small ones, then opt-1.3b's width with odd row counts and an odd d_out (leading dimension of y). One row
    // takes kernels::gemv (by default), more cuBLAS; 100 fp16/bf16 inputs (no whole 16-byte vectors) cuBLAS.
    const Shape shapes[] = {{1, 96, 40}, {7, 96, 40}, {3, 100, 40}, {1, 2048, 517}, {8, 2048, 517}, {33, 2048, 517}};
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        for (const Shape& sh : shapes) {
            const int64_t n = sh.n, d_in = sh.d_in, d_out = sh.d_out;
            CAPTURE(n);
            CAPTURE(d_in);
            const auto x = rounded(dt, randn(size_t(n * d_in))), w = rounded(dt, randn(size_t(d_out * d_in), 0.1f));
            const auto b = rounded(dt, randn(size_t(d_out)));
            Buffer gx = put(gpu(dt), dt, x, {n, d_in}), gw = put(gpu(dt), dt, w, {d_out, d_in});
            Buffer gb = put(gpu(dt), dt, b, {d_out}), gy = gpu(dt).alloc(dt, {n, d_out});
            Buffer cx = put(cpu(), DType::F32, x, {n, d_in}), cw = put(cpu(), DType::F32, w, {d_out, d_in});
            Buffer cb = put(cpu(), DType::F32, b, {d_out}), cy = cpu().alloc(DType::F32, {n, d_out});
            gpu(dt).linear(gy, gx, gw, &gb.tensor());
            cpu().linear(cy, cx, cw, &cb.tensor());
            EXPECT_CLOSE(get(gpu(dt), gy), get(cpu(), cy), dt);
            gpu(dt).linear(gy, gx, gw, nullptr);
            cpu().linear(cy, cx, cw, nullptr);
            EXPECT_CLOSE(get(gpu(dt), gy), get(cpu(), cy), dt);
        }
    }
}

TEST_CASE("linear_stacked: q, k and v in one batched GEMM") {
    // opt-1.3b's q/k/v at TP=2 (1024 of 2048 per rank), 1 and 33 tokens in blocks with room for 40.
    const int64_t d_in = 2048, d_out = 1024, cap = 40;
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        for (int64_t n : {int64_t(1), int64_t(5), int64_t(33)}) {  // kernels::gemv (1 row), then cuBLAS
            CAPTURE(n);
            const auto x = rounded(dt, randn(size_t(n * d_in))), w = rounded(dt, randn(size_t(3 * d_out * d_in), 0.1f));
            const auto b = rounded(dt, randn(size_t(3 * d_out)));
            Buffer gx = put(gpu(dt), dt, x, {n, d_in}), gw = put(gpu(dt), dt, w, {3 * d_out, d_in});
            Buffer gb = put(gpu(dt), dt, b, {3 * d_out}), gy = gpu(dt).alloc(dt, {3, cap, d_out});
            Buffer cx = put(cpu(), DType::F32, x, {n, d_in}), cw = put(cpu(), DType::F32, w, {3 * d_out, d_in});
            Buffer cb = put(cpu(), DType::F32, b, {3 * d_out}), cy = cpu().alloc(DType::F32, {3, cap, d_out});
            gpu(dt).linear_stacked(gy, gx, gw, gb);
            cpu().linear_stacked(cy, cx, cw, cb);
            EXPECT_CLOSE(get(gpu(dt), gy), get(cpu(), cy), dt);  // rows past n: zero in both
        }
    }
}

TEST_CASE("layer_norm") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        for (int64_t d : {300, 2048, 5120}) {  // 256, 512 and 1024 threads a row
            const int64_t n = 5;
            const auto x = rounded(dt, randn(size_t(n * d), 2.0f, 3.0f));  // a large mean: tests the two passes
            const auto g = rounded(dt, randn(size_t(d), 0.5f, 1.0f)), b = rounded(dt, randn(size_t(d), 0.1f));
            Buffer gx = put(gpu(dt), dt, x, {n, d}), gg = put(gpu(dt), dt, g, {d}), gb = put(gpu(dt), dt, b, {d});
            Buffer gy = gpu(dt).alloc(dt, {n, d});
            Buffer cx = put(cpu(), DType::F32, x, {n, d}), cg = put(cpu(), DType::F32, g, {d});
            Buffer cb = put(cpu(), DType::F32, b, {d}), cy = cpu().alloc(DType::F32, {n, d});
            gpu(dt).layer_norm(gy, gx, gg, gb, 1e-5f);
            cpu().layer_norm(cy, cx, cg, cb, 1e-5f);
            EXPECT_CLOSE(get(gpu(dt), gy), get(cpu(), cy), dt);
            // F32 gamma/beta with low-precision activations
            Buffer fg = put(gpu(dt), DType::F32, g, {d}), fb = put(gpu(dt), DType::F32, b, {d});
            gpu(dt).layer_norm(gy, gx, fg, fb, 1e-5f);
            EXPECT_CLOSE(get(gpu(dt), gy), get(cpu(), cy), dt);
        }
    }
}

TEST_CASE("add_residual_layer_norm: the stream and its norm, into another buffer and in place") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        for (int64_t d : {300, 2048, 5120}) {
            const int64_t n = 5;
            const auto h = rounded(dt, randn(size_t(n * d), 2.0f, 3.0f)), r = rounded(dt, randn(size_t(n * d)));
            const auto bias = rounded(dt, randn(size_t(d))), g = rounded(dt, randn(size_t(d), 0.5f, 1.0f));
            const auto b = rounded(dt, randn(size_t(d), 0.1f));
            Buffer gr = put(gpu(dt), dt, r, {n, d}), gbias = put(gpu(dt), dt, bias, {d});
            Buffer gg = put(gpu(dt), DType::F32, g, {d}), gb = put(gpu(dt), DType::F32, b, {d});
            Buffer ch = put(cpu(), DType::F32, h, {n, d}), cr = put(cpu(), DType::F32, r, {n, d});
            Buffer cbias = put(cpu(), DType::F32, bias, {d}), cg = put(cpu(), DType::F32, g, {d});
            Buffer cb = put(cpu(), DType::F32, b, {d}), cy = cpu().alloc(DType::F32, {n, d});
            cpu().add_residual_layer_norm(cy, ch, cr, cbias, cg, cb, 1e-5f);
            Buffer gh = put(gpu(dt), dt, h, {n, d}), gy = gpu(dt).alloc(dt, {n, d});
            gpu(dt).add_residual_layer_norm(gy, gh, gr, gbias, gg, gb, 1e-5f);
            EXPECT_CLOSE(get(gpu(dt), gh), get(cpu(), ch), dt);
            EXPECT_CLOSE(get(gpu(dt), gy), get(cpu(), cy), dt);
            Buffer gi = put(gpu(dt), dt, h, {n, d});
            gpu(dt).add_residual_layer_norm(gi, gi, gr, gbias, gg, gb, 1e-5f);
            EXPECT_CLOSE(get(gpu(dt), gi), get(cpu(), cy), dt);
        }
    }
}

TEST_CASE("add, add_bias, add_bias_relu, add_residual") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        const int64_t n = 6, d = 130;
        const auto x = rounded(dt, randn(size_t(n * d))), y = rounded(dt, randn(size_t(n * d)));
        const auto b = rounded(dt, randn(size_t(d)));
        Buffer gx = put(gpu(dt), dt, x, {n, d}), gy = put(gpu(dt), dt, y, {n, d}), gb = put(gpu(dt), dt, b, {d});
        Buffer cx = put(cpu(), DType::F32, x, {n, d}), cy = put(cpu(), DType::F32, y, {n, d});
        Buffer cb = put(cpu(), DType::F32, b, {d});
        gpu(dt).add(gy, gx);
        cpu().add(cy, cx);
        EXPECT_CLOSE(get(gpu(dt), gy), get(cpu(), cy), dt);
        gpu(dt).add_bias(gy, gb);
        cpu().add_bias(cy, cb);
        EXPECT_CLOSE(get(gpu(dt), gy), get(cpu(), cy), dt);
        gpu(dt).add_residual(gx, gy, gb);
        cpu().add_residual(cx, cy, cb);
        EXPECT_CLOSE(get(gpu(dt), gx), get(cpu(), cx), dt);
        gpu(dt).add_bias_relu(gy, gb);
        cpu().add_bias_relu(cy, cb);
        EXPECT_CLOSE(get(gpu(dt), gy), get(cpu(), cy), dt);
    }
}

TEST_CASE("embedding (vocab shard and positions) and gather_rows") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        const int64_t rows = 10, d = 40;
        const auto table = rounded(dt, randn(size_t(rows * d)));
        const std::vector<int32_t> ids = {5, 14, 4, 15, 9, 0, -3, 7};
        Buffer gt = put(gpu(dt), dt, table, {rows, d}), gi = put_i32(gpu(dt), ids, {8});
        Buffer ct = put(cpu(), DType::F32, table, {rows, d}), ci = put_i32(cpu(), ids, {8});
        Buffer gy = gpu(dt).alloc(dt, {8, d}), cy = cpu().alloc(DType::F32, {8, d});
        for (int64_t row_begin : {int64_t(5), int64_t(-2)}) {  // a shard [5, 15); positions shifted by 2
            gpu(dt).embedding(gy, gi, gt, row_begin);
            cpu().embedding(cy, ci, ct, row_begin);
            CHECK(get(gpu(dt), gy) == get(cpu(), cy));  // a copy: exact
        }
        const std::vector<int32_t> sel = {9, 0, 3, 3};
        Buffer gs = put_i32(gpu(dt), sel, {4}), cs = put_i32(cpu(), sel, {4});
        Buffer gz = gpu(dt).alloc(dt, {4, d}), cz = cpu().alloc(DType::F32, {4, d});
        gpu(dt).gather_rows(gz, gt, gs);
        cpu().gather_rows(cz, ct, cs);
        CHECK(get(gpu(dt), gz) == get(cpu(), cz));
    }
}

TEST_CASE("write_kv skips negative slots") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        const int64_t n_slots = 32, d = 24;
        const auto cache = rounded(dt, randn(size_t(n_slots * d))), k = rounded(dt, randn(size_t(4 * d)));
        const auto v = rounded(dt, randn(size_t(4 * d)));
        const std::vector<int32_t> slots = {17, -1, 3, 31};
        Buffer gk = put(gpu(dt), dt, cache, {n_slots, d}), gv = put(gpu(dt), dt, cache, {n_slots, d});
        Buffer k_new = put(gpu(dt), dt, k, {4, d}), v_new = put(gpu(dt), dt, v, {4, d});
        gpu(dt).write_kv(gk, gv, k_new, v_new, put_i32(gpu(dt), slots, {4}));
        auto want_k = cache, want_v = cache;
        for (size_t i = 0; i < slots.size(); i++) {
            if (slots[i] < 0) continue;
            std::copy_n(&k[i * d], d, &want_k[size_t(slots[i] * d)]);
            std::copy_n(&v[i * d], d, &want_v[size_t(slots[i] * d)]);
        }
        CHECK(get(gpu(dt), gk) == want_k);
        CHECK(get(gpu(dt), gv) == want_v);
    }
}

// Four sequences over a shuffled block pool (block size 16): A prefill of 20 tokens (2 blocks), B one decode
// token at position 37 (3 blocks), C a chunk of 5 tokens at positions 30..34 after 30 cached ones, D one
// decode token at position 150 (10 blocks). Mixed batch → prefill kernel; one query each → decode kernel.
// Head sizes of OPT (64: up to 1.3b, 80: 2.7b, 128: 6.7b and up) and 32: a lane holds 1 to 4 elements of a
// head, and 80 leaves half a warp idle in its last chunk.
TEST_CASE("paged attention: mixed prefill + decode, and decode only") {
    for (const int64_t d_head : {32, 64, 80, 128}) {
        CAPTURE(d_head);
        const int64_t n_heads = 4, d_row = n_heads * d_head, bs = 16, n_blocks = 32, max_blocks = 10;
        const int64_t n_slots = n_blocks * bs;
        std::vector<int32_t> pool(n_blocks);
        std::iota(pool.begin(), pool.end(), 0);
        std::shuffle(pool.begin(), pool.end(), std::mt19937(7));
        const int64_t blocks_of[4] = {2, 3, 3, 10};
        std::vector<int32_t> tables(4 * max_blocks, -1);  // unused entries are never read
        for (int64_t s = 0, next = 0; s < 4; s++)
            for (int64_t j = 0; j < blocks_of[s]; j++) tables[size_t(s * max_blocks + j)] = pool[size_t(next++)];
        struct Batch {
            std::vector<int32_t> query_start, positions;
        };
        Batch mixed{{0, 20, 21, 26, 27}, {}};
        for (int p = 0; p < 20; p++) mixed.positions.push_back(p);
        mixed.positions.push_back(37);
        for (int p = 30; p < 35; p++) mixed.positions.push_back(p);
        mixed.positions.push_back(150);
        const Batch decode{{0, 1, 2, 3, 4}, {19, 37, 34, 150}};
        const float scale = 1.0f / std::sqrt(float(d_head));
        for (DType dt : kDtypes) {
            CAPTURE(dtype_name(dt));
            const auto kc = rounded(dt, randn(size_t(n_slots * d_row)));
            const auto vc = rounded(dt, randn(size_t(n_slots * d_row)));
            Buffer gk = put(gpu(dt), dt, kc, {n_slots, d_row}), gv = put(gpu(dt), dt, vc, {n_slots, d_row});
            Buffer ck = put(cpu(), DType::F32, kc, {n_slots, d_row});
            Buffer cv = put(cpu(), DType::F32, vc, {n_slots, d_row});
            for (const Batch* batch : {static_cast<const Batch*>(&mixed), &decode}) {
                const int64_t n = int64_t(batch->positions.size());
                CAPTURE(n);
                const auto q = rounded(dt, randn(size_t(n * d_row)));
                auto inputs = [&](Backend& b, std::vector<Buffer>& keep) {
                    keep.push_back(put_i32(b, batch->query_start, {5}));
                    keep.push_back(put_i32(b, batch->positions, {n}));
                    keep.push_back(put_i32(b, tables, {4, max_blocks}));
                    return AttentionInputs{keep[0], keep[1], keep[2], int(bs)};
                };
                std::vector<Buffer> gkeep, ckeep;
                const AttentionInputs gin = inputs(gpu(dt), gkeep), cin = inputs(cpu(), ckeep);
                Buffer gq = put(gpu(dt), dt, q, {n, d_row}), gout = gpu(dt).alloc(dt, {n, d_row});
                Buffer cq = put(cpu(), DType::F32, q, {n, d_row}), cout = cpu().alloc(DType::F32, {n, d_row});
                gpu(dt).attention(gout, gq, gk, gv, gin, int(n_heads), scale);
                cpu().attention(cout, cq, ck, cv, cin, int(n_heads), scale);
                EXPECT_CLOSE(get(gpu(dt), gout), get(cpu(), cout), dt);
            }
        }
    }
}

// One decode at position 2000 of a 2048-token table, 4 heads: on a GPU of 2 or more SMs the backend splits the
// context (kernels::decode_splits: 4 ranges of 512 keys); LOCKSTEP_DECODE_SPLITS=7 forces 7, which the
// emulation (one SM, never splitting by itself) runs too. Either way the CPU backend's result.
TEST_CASE("paged attention: a long decode split into ranges of its context, and LOCKSTEP_DECODE_SPLITS") {
    const int64_t n_heads = 4, d_head = 64, d_row = n_heads * d_head, bs = 16, max_blocks = 128;
    const int64_t n_slots = (max_blocks + 2) * bs;
    std::vector<int32_t> table(max_blocks);
    std::iota(table.begin(), table.end(), 2);
    std::shuffle(table.begin(), table.end(), std::mt19937(3));
    const std::vector<int32_t> query_start = {0, 1}, positions = {2000};
    const float scale = 0.125f;
    auto check = [&](CudaBackend& g, DType dt) {
        const auto kc = rounded(dt, randn(size_t(n_slots * d_row))), vc = rounded(dt, randn(size_t(n_slots * d_row)));
        const auto q = rounded(dt, randn(size_t(d_row), 2.0f));
        Buffer gk = put(g, dt, kc, {n_slots, d_row}), gv = put(g, dt, vc, {n_slots, d_row});
        Buffer ck = put(cpu(), DType::F32, kc, {n_slots, d_row}), cv = put(cpu(), DType::F32, vc, {n_slots, d_row});
        Buffer gqs = put_i32(g, query_start, {2}), gpos = put_i32(g, positions, {1});
        Buffer gtab = put_i32(g, table, {1, max_blocks});
        Buffer cqs = put_i32(cpu(), query_start, {2}), cpos = put_i32(cpu(), positions, {1});
        Buffer ctab = put_i32(cpu(), table, {1, max_blocks});
        Buffer gq = put(g, dt, q, {1, d_row}), gout = g.alloc(dt, {1, d_row});
        Buffer cq = put(cpu(), DType::F32, q, {1, d_row}), cout = cpu().alloc(DType::F32, {1, d_row});
        g.attention(gout, gq, gk, gv, AttentionInputs{gqs, gpos, gtab, int(bs)}, int(n_heads), scale);
        cpu().attention(cout, cq, ck, cv, AttentionInputs{cqs, cpos, ctab, int(bs)}, int(n_heads), scale);
        EXPECT_CLOSE(get(g, gout), get(cpu(), cout), dt);
    };
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        check(gpu(dt), dt);
    }
    BackendConfig cfg;
    cfg.device = "cuda";
    cfg.dtype = DType::F16;
    setenv("LOCKSTEP_DECODE_SPLITS", "7", 1);
    {
        CudaBackend forced(cfg);
        check(forced, DType::F16);
    }
    setenv("LOCKSTEP_DECODE_SPLITS", "0", 1);
    CHECK_THROWS_WITH(CudaBackend{cfg}, doctest::Contains("LOCKSTEP_DECODE_SPLITS=0: expected a whole number"));
    unsetenv("LOCKSTEP_DECODE_SPLITS");
}

TEST_CASE("convert") {
    const auto x = randn(1000, 3.0f);
    for (DType from : kDtypes)
        for (DType to : kDtypes) {
            CAPTURE(dtype_name(from));
            CAPTURE(dtype_name(to));
            const auto xr = rounded(from, x);
            Buffer gx = put(gpu(from), from, xr, {1000}), gy = gpu(from).alloc(to, {1000});
            Buffer cx = put(cpu(), DType::F32, xr, {1000}), cy = cpu().alloc(to, {1000});
            gpu(from).convert(gy, gx);
            cpu().convert(cy, cx);
            CHECK(get(gpu(from), gy) == get(cpu(), cy));  // both round to nearest even: exact
        }
}

TEST_CASE("argmax_rows: the kernel in every dtype, and the backend op as the CPU backend's") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        const int64_t n = 4, vocab = 50272;  // OPT's vocabulary
        auto logits = rounded(dt, randn(size_t(n * vocab), 4.0f));
        logits[size_t(3 * vocab + 10)] = logits[size_t(3 * vocab + 40000)] = 100.0f;  // a tie: the first wins
        Buffer gl = put(gpu(dt), dt, logits, {n, vocab});
        Buffer out = gpu(dt).alloc(DType::I32, {n}), val = gpu(dt).alloc(DType::F32, {n});
        kernels::argmax_rows(out.tensor().i32(), val.tensor().f32(), gl.tensor().data, dt, n, vocab, vocab,
                             gpu(dt).stream());
        std::vector<int32_t> got(static_cast<size_t>(n));
        gpu(dt).copy_to_host(got.data(), out);
        const auto got_val = get(gpu(dt), val);
        for (int64_t i = 0; i < n; i++) {
            const float* row = &logits[size_t(i * vocab)];
            const int32_t want = int32_t(std::max_element(row, row + vocab) - row);
            CHECK(got[size_t(i)] == want);
            CHECK(got_val[size_t(i)] == row[want]);
        }
        CHECK(got[3] == 10);
    }
    // The LM head's use: fp32 rows of a TP block, wider than the columns read; a NaN or +inf flags its row.
    const int64_t n = 5, stride = 1000, cols = 990;
    auto logits = randn(size_t(n * stride), 4.0f);
    logits[size_t(1 * stride + 7)] = NAN;
    logits[size_t(2 * stride + 8)] = INFINITY;
    logits[size_t(3 * stride + 995)] = 1e9f;  // past the columns read
    std::fill(&logits[size_t(4 * stride)], &logits[size_t(5 * stride)], -INFINITY);
    Buffer gx = put(gpu(DType::F32), DType::F32, logits, {n, stride}), cx = put(cpu(), DType::F32, logits, {n, stride});
    Buffer gi = gpu(DType::F32).alloc(DType::I32, {n}), gv = gpu(DType::F32).alloc(DType::F32, {n});
    Buffer ci = cpu().alloc(DType::I32, {n}), cv = cpu().alloc(DType::F32, {n});
    gpu(DType::F32).argmax_rows(gi, gv, gx, cols);
    cpu().argmax_rows(ci, cv, cx, cols);
    std::vector<int32_t> g_idx(static_cast<size_t>(n)), c_idx(static_cast<size_t>(n));
    gpu(DType::F32).copy_to_host(g_idx.data(), gi);
    cpu().copy_to_host(c_idx.data(), ci);
    CHECK(g_idx == c_idx);
    const auto g_val = get(gpu(DType::F32), gv), c_val = get(cpu(), cv);
    for (int64_t i = 0; i < n; i++) {
        CAPTURE(i);
        CHECK(std::isnan(g_val[size_t(i)]) == (i == 1 || i == 2));
        if (!std::isnan(c_val[size_t(i)])) CHECK(g_val[size_t(i)] == c_val[size_t(i)]);
    }
    CHECK(g_val[4] == -INFINITY);
}

TEST_CASE("graph capture + replay equals eager") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        CudaBackend& g = gpu(dt);
        const int64_t n = 4, d_in = 64, d = 32;
        const auto x1 = randn(size_t(n * d_in)), x2 = randn(size_t(n * d_in)), w = randn(size_t(d * d_in), 0.1f);
        Buffer x = put(g, dt, x1, {n, d_in}), wt = put(g, dt, w, {d, d_in}), y = g.alloc(dt, {n, d});
        Buffer zero = g.alloc(dt, {d});
        auto step = [&] {  // y = x·wᵀ + relu(x·wᵀ), with a temporary allocated inside the step
            g.linear(y, x, wt, nullptr);
            Buffer tmp = g.alloc(dt, {n, d});
            g.add(tmp, y);
            g.add_bias_relu(tmp, zero);
            g.add(y, tmp);
        };
        step();  // eager; also the warm-up that leaves tmp's block cached for the capture
        const auto eager1 = get(g, y);
        x = put(g, dt, x2, {n, d_in});
        step();
        const auto eager2 = get(g, y);
        x = put(g, dt, x1, {n, d_in});
        g.begin_capture();
        step();
        const int id = g.end_capture();
        g.replay(id);
        CHECK(rel_err(get(g, y), eager1) <= 1e-6);
        std::vector<uint16_t> bits = dt == DType::F32 ? std::vector<uint16_t>() : to_bits(dt, x2);
        g.copy_from_host(x, dt == DType::F32 ? static_cast<const void*>(x2.data()) : bits.data());
        g.replay(id);
        CHECK(rel_err(get(g, y), eager2) <= 1e-6);
    }
}

TEST_CASE("alloc during capture needs a cached block; the stream stays usable after the failure") {
    CudaBackend& g = gpu(DType::F32);
    g.begin_capture();
    CHECK_THROWS_WITH_AS(g.alloc(DType::F32, {int64_t(3) << 28}), doctest::Contains("during graph capture"), Error);
    const auto v = randn(64);
    Buffer b = put(g, DType::F32, v, {64});
    CHECK(get(g, b) == v);
}

TEST_CASE("a step that throws during capture: release_graphs abandons the capture, graphs capture again after") {
    CudaBackend& g = gpu(DType::F32);
    const auto v = randn(64);
    Buffer b = put(g, DType::F32, v, {64}), zero = g.alloc(DType::F32, {1});
    g.begin_capture();
    g.add_bias_relu(b, zero);
    // What a failing step does mid-capture: a call that capture forbids throws, and the capture stays open.
    CHECK_THROWS_WITH_AS(g.synchronize(), doctest::Contains("capture"), Error);
    g.release_graphs();  // must not refuse: an open capture's graph holds NCCL's references too
    CHECK(get(g, b) == v);  // the relu was recorded, never run, and the stream works
    g.begin_capture();
    g.add_bias_relu(b, zero);
    g.replay(g.end_capture());
    auto want = v;
    for (float& x : want) x = std::max(x, 0.0f);
    CHECK(get(g, b) == want);
    g.release_graphs();
}

TEST_CASE("caching allocator: reuse, usage, peak; large copies go through the staging buffers") {
    CudaBackend& g = gpu(DType::F32);
    g.synchronize();
    const MemoryUsage before = g.memory_usage();
    const int64_t n = int64_t(5) << 20;  // 20 MiB of floats: two staging chunks
    const auto v = randn(size_t(n));
    {
        Buffer a = put(g, DType::F32, v, {n});
        CHECK(g.memory_usage().allocated >= before.allocated + n * 4);
        CHECK(get(g, a) == v);
    }
    CHECK(g.memory_usage().allocated == before.allocated);
    CHECK(g.memory_usage().peak >= before.allocated + n * 4);
    const int64_t used = g.device_used_bytes();
    Buffer again = g.alloc(DType::F32, {n});  // served from the free list: no new device memory
    CHECK(g.device_used_bytes() == used);
    CHECK(get(g, again) == std::vector<float>(size_t(n), 0.0f));  // zero-filled even when reused
}

// Without a GPU the binary still runs: it checks the no-device path (a reason, a clear error from
// make_cuda_backend) and reports itself skipped with ctest's SKIP_RETURN_CODE.
int main(int argc, char** argv) {
    std::string why;
    if (cuda_device_count(&why) == 0) {
        if (why.empty()) {
            std::fprintf(stderr, "FAILED: cuda_device_count() returned 0 without a reason\n");
            return 1;
        }
        try {
            BackendConfig cfg;
            cfg.device = "cuda";
            make_cuda_backend(cfg);
            std::fprintf(stderr, "FAILED: make_cuda_backend succeeded without a device\n");
            return 1;
        } catch (const Error& e) {
            if (std::string(e.what()).find(why) == std::string::npos) {
                std::fprintf(stderr, "FAILED: make_cuda_backend's error does not give the reason: %s\n", e.what());
                return 1;
            }
        }
        std::printf("SKIPPED: no CUDA device (%s)\n", why.c_str());
        return 77;
    }
    doctest::Context ctx(argc, argv);
    return ctx.run();
}
