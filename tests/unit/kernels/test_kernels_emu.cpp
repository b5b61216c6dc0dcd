// kernels/*.cu, run by the CPU emulation of CUDA (cuda_emu.h), against the CPU backend op by op: the cases of
// tests/gpu/test_cuda_backend.cpp for what our kernels do (cuBLAS is not emulated), called through the kernels'
// own launchers, plus the graph-padding cases. Every case runs with the threads of each block in forward,
// reverse and shuffled order, so a result that depends on a race between barriers fails.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "backend/cpu_backend.h"
#include "cuda_emu.h"
#include "kernels.h"
#include "op_check.h"

using namespace ls;
using namespace ls::op_check;

namespace {

const DType kDtypes[] = {DType::F32, DType::F16, DType::BF16};
const ls::emu::Order kOrders[] = {ls::emu::Order::Forward, ls::emu::Order::Reverse, ls::emu::Order::Shuffled,
                                   ls::emu::Order::WarpAhead};

CpuBackend& cpu() {
    static CpuBackend b(1, 1e9);
    return b;
}

// Device memory of the emulation: host bytes that hold the values as `dt` stores them.
struct DevArray {
    DType dt;
    std::vector<unsigned char> bytes;
    void* p() { return bytes.data(); }
};

DevArray dev(DType dt, const std::vector<float>& v) {
    DevArray a{dt, std::vector<unsigned char>(v.size() * dtype_size(dt))};
    if (v.empty()) return a;  // memcpy from an empty vector's null data is undefined, even of 0 bytes
    if (dt == DType::F32) {
        std::memcpy(a.p(), v.data(), a.bytes.size());
    } else {
        const auto bits = to_bits(dt, v);
        std::memcpy(a.p(), bits.data(), a.bytes.size());
    }
    return a;
}

std::vector<float> host(const DevArray& a) {
    std::vector<float> out(a.bytes.size() / dtype_size(a.dt));
    convert_to_f32(a.bytes.data(), a.dt, out.data(), out.size());
    return out;
}

// Runs check(order) once per scheduling order.
template <class F>
void each_order(F&& check) {
    for (auto o : kOrders) {
        CAPTURE(int(o));
        ls::emu::set_order(o, 7);
        check();
    }
    ls::emu::set_order(ls::emu::Order::Forward);
}

}  // namespace

TEST_CASE("layer_norm: 256, 512 and 1024 threads a row, gamma/beta in the dtype or fp32") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        for (int64_t d : {300, 2048, 5120}) {
            CAPTURE(d);
            const int64_t n = 3;
            const auto x = rounded(dt, randn(size_t(n * d), 2.0f, 3.0f));  // a large mean: tests the two passes
            const auto g = rounded(dt, randn(size_t(d), 0.5f, 1.0f)), b = rounded(dt, randn(size_t(d), 0.1f));
            Buffer cx = put(cpu(), DType::F32, x, {n, d}), cg = put(cpu(), DType::F32, g, {d});
            Buffer cb = put(cpu(), DType::F32, b, {d}), cy = cpu().alloc(DType::F32, {n, d});
            cpu().layer_norm(cy, cx, cg, cb, 1e-5f);
            const auto want = get(cpu(), cy);
            each_order([&] {
                for (DType w_dt : {dt, DType::F32}) {
                    DevArray ex = dev(dt, x), eg = dev(w_dt, g), eb = dev(w_dt, b), ey = dev(dt, std::vector<float>(x.size()));
                    kernels::layer_norm(ey.p(), ex.p(), eg.p(), eb.p(), dt, w_dt, n, d, 1e-5f, nullptr);
                    EXPECT_CLOSE(host(ey), want, dt);
                }
            });
        }
    }
}

TEST_CASE("add_residual_layer_norm: bitwise add_residual then layer_norm, into another buffer or in place") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        for (int64_t d : {300, 2048, 5120}) {
            CAPTURE(d);
            const int64_t n = 3;
            const auto h = rounded(dt, randn(size_t(n * d), 2.0f, 3.0f)), r = rounded(dt, randn(size_t(n * d)));
            const auto bias = rounded(dt, randn(size_t(d))), g = rounded(dt, randn(size_t(d), 0.5f, 1.0f));
            const auto b = rounded(dt, randn(size_t(d), 0.1f));
            Buffer ch = put(cpu(), DType::F32, h, {n, d}), cr = put(cpu(), DType::F32, r, {n, d});
            Buffer cbias = put(cpu(), DType::F32, bias, {d}), cg = put(cpu(), DType::F32, g, {d});
            Buffer cb = put(cpu(), DType::F32, b, {d}), cy = cpu().alloc(DType::F32, {n, d});
            cpu().add_residual_layer_norm(cy, ch, cr, cbias, cg, cb, 1e-5f);
            const auto want = get(cpu(), cy), want_h = get(cpu(), ch);
            each_order([&] {
                for (DType w_dt : {dt, DType::F32}) {
                    CAPTURE(dtype_name(w_dt));
                    DevArray er = dev(dt, r), ebias = dev(dt, bias), eg = dev(w_dt, g), eb = dev(w_dt, b);
                    DevArray h1 = dev(dt, h), y1 = dev(dt, std::vector<float>(h.size()));  // the two kernels
                    kernels::add_residual(h1.p(), er.p(), ebias.p(), dt, n, d, nullptr);
                    kernels::layer_norm(y1.p(), h1.p(), eg.p(), eb.p(), dt, w_dt, n, d, 1e-5f, nullptr);
                    DevArray h2 = dev(dt, h), y2 = dev(dt, std::vector<float>(h.size()));  // fused, into y
                    kernels::add_residual_layer_norm(y2.p(), h2.p(), er.p(), ebias.p(), eg.p(), eb.p(), dt, w_dt, n,
                                                     d, 1e-5f, nullptr);
                    CHECK(h2.bytes == h1.bytes);
                    CHECK(y2.bytes == y1.bytes);
                    DevArray h3 = dev(dt, h);  // fused, in place (post-LN)
                    kernels::add_residual_layer_norm(h3.p(), h3.p(), er.p(), ebias.p(), eg.p(), eb.p(), dt, w_dt, n,
                                                     d, 1e-5f, nullptr);
                    CHECK(h3.bytes == y1.bytes);
                    EXPECT_CLOSE(host(h2), want_h, dt);
                    EXPECT_CLOSE(host(y2), want, dt);
                }
            });
        }
    }
}

TEST_CASE("add, add_bias (+ relu, stacked) and bias + residual") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        const int64_t n = 6, d = 130;  // 780 elements: 4 blocks of 256, the last one partly idle
        const auto x = rounded(dt, randn(size_t(n * d))), y = rounded(dt, randn(size_t(n * d)));
        const auto b = rounded(dt, randn(size_t(d)));
        Buffer cx = put(cpu(), DType::F32, x, {n, d}), cy = put(cpu(), DType::F32, y, {n, d});
        Buffer cb = put(cpu(), DType::F32, b, {d});
        cpu().add(cy, cx);
        const auto want_add = get(cpu(), cy);
        cpu().add_bias(cy, cb);
        const auto want_bias = get(cpu(), cy);
        Buffer cr = put(cpu(), DType::F32, want_add, {n, d});
        cpu().add_bias_relu(cr, cb);
        const auto want_relu = get(cpu(), cr);
        cpu().add_residual(cx, cy, cb);  // x + ((x + y + b) + b)
        const auto want_residual = get(cpu(), cx);
        // Stacked q, k, v: blocks of `cap` rows, the first n of each plus its own block of the bias.
        const int64_t cap = n + 2;
        const auto ys = rounded(dt, randn(size_t(3 * cap * d))), bs = rounded(dt, randn(size_t(3 * d)));
        std::vector<float> want_stacked = ys;
        for (int64_t s = 0; s < 3; s++)
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < d; j++) want_stacked[size_t((s * cap + i) * d + j)] += bs[size_t(s * d + j)];
        each_order([&] {
            DevArray ex = dev(dt, x), ey = dev(dt, y), eb = dev(dt, b);
            kernels::add(ey.p(), ex.p(), dt, n * d, nullptr);
            EXPECT_CLOSE(host(ey), want_add, dt);
            DevArray fused = dev(dt, want_add);
            kernels::add_bias(fused.p(), eb.p(), dt, n, d, true, nullptr);
            EXPECT_CLOSE(host(fused), want_relu, dt);
            kernels::add_bias(ey.p(), eb.p(), dt, n, d, false, nullptr);
            EXPECT_CLOSE(host(ey), want_bias, dt);
            kernels::add_residual(ex.p(), ey.p(), eb.p(), dt, n, d, nullptr);
            EXPECT_CLOSE(host(ex), want_residual, dt);
            DevArray es = dev(dt, ys), ebs = dev(dt, bs);
            kernels::add_bias_stacked(es.p(), ebs.p(), dt, 3, n, d, cap, nullptr);
            EXPECT_CLOSE(host(es), want_stacked, dt);
        });
    }
}

// kernels::gemv against the CPU backend's linear: 1 to 8 rows (each N of the kernel, a partial one too), a row
// of w longer than the unrolled loop with a remainder (d_in 264 fp16: 33 vectors; fp32: 66), d_out not a
// multiple of a block's 8 warps, output in the dtype or fp32, and q, k, v stacked into blocks of `cap` rows
// whose rows past n are left alone. What it refuses: 9 rows, rows that are not whole 16-byte vectors.
TEST_CASE("gemv: y = x · wᵀ for up to 8 rows, as the CPU backend's linear") {
    const int64_t d_in = 264, d_out = 37, cap = 10;
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        const auto w = rounded(dt, randn(size_t(3 * d_out * d_in), 0.1f));
        for (int64_t n : {1, 2, 3, 5, 8}) {
            CAPTURE(n);
            const auto x = rounded(dt, randn(size_t(n * d_in)));
            Buffer cx = put(cpu(), DType::F32, x, {n, d_in}), cw = put(cpu(), DType::F32, w, {3 * d_out, d_in});
            Buffer cy = cpu().alloc(DType::F32, {n, 3 * d_out});
            cpu().linear(cy, cx, cw, nullptr);  // the three weights as one: column b · d_out + o
            const auto all = get(cpu(), cy);
            std::vector<float> want_one(size_t(n * d_out)), want_stacked(size_t(3 * cap * d_out), 5.0f);
            for (int64_t r = 0; r < n; r++)
                for (int64_t b = 0; b < 3; b++)
                    for (int64_t o = 0; o < d_out; o++) {
                        const float v = all[size_t(r * 3 * d_out + b * d_out + o)];
                        if (b == 0) want_one[size_t(r * d_out + o)] = v;
                        want_stacked[size_t((b * cap + r) * d_out + o)] = v;
                    }
            each_order([&] {
                DevArray ex = dev(dt, x), ew = dev(dt, w);
                for (DType y_dt : {dt, DType::F32}) {
                    CAPTURE(dtype_name(y_dt));
                    DevArray ey = dev(y_dt, std::vector<float>(size_t(n * d_out), NAN));
                    kernels::gemv(ey.p(), y_dt, ex.p(), ew.p(), dt, n, d_in, d_out, 1, 0, nullptr);
                    EXPECT_CLOSE(host(ey), want_one, dt);
                }
                DevArray es = dev(dt, std::vector<float>(size_t(3 * cap * d_out), 5.0f));
                kernels::gemv(es.p(), dt, ex.p(), ew.p(), dt, n, d_in, d_out, 3, cap * d_out, nullptr);
                EXPECT_CLOSE(host(es), want_stacked, dt);
            });
        }
        DevArray ex = dev(dt, randn(size_t(9 * d_in))), ew = dev(dt, w), ey = dev(dt, std::vector<float>(size_t(9 * d_out)));
        CHECK(kernels::gemv_fits(8, d_in, int(dtype_size(dt)), ex.p(), ew.p()));
        CHECK_FALSE(kernels::gemv_fits(9, d_in, int(dtype_size(dt)), ex.p(), ew.p()));
        CHECK_FALSE(kernels::gemv_fits(1, 2, int(dtype_size(dt)), ex.p(), ew.p()));  // 4 or 8 bytes a row
        CHECK_FALSE(kernels::gemv_fits(1, d_in, int(dtype_size(dt)), static_cast<char*>(ex.p()) + 2, ew.p()));
        CHECK_THROWS_WITH(kernels::gemv(ey.p(), dt, ex.p(), ew.p(), dt, 9, d_in, d_out, 1, 0, nullptr),
                          doctest::Contains("1..8 rows"));
    }
}

TEST_CASE("embedding (vocab shard and positions) and gather_rows: exact copies, zeros outside the shard") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        const int64_t rows = 10, d = 300;  // d > 256 threads: a thread copies two columns
        const auto table = rounded(dt, randn(size_t(rows * d)));
        std::vector<int32_t> ids = {5, 14, 4, 15, 9, 0, -3, 7};
        Buffer ct = put(cpu(), DType::F32, table, {rows, d}), ci = put_i32(cpu(), ids, {8});
        Buffer cy = cpu().alloc(DType::F32, {8, d});
        std::vector<int32_t> sel = {9, 0, 3, 3, -1, 10};  // the last two outside the table: zeros
        each_order([&] {
            DevArray et = dev(dt, table);
            for (int64_t row_begin : {int64_t(5), int64_t(-2)}) {  // a shard [5, 15); positions shifted by 2
                CAPTURE(row_begin);
                DevArray ey = dev(dt, std::vector<float>(size_t(8 * d), 7.0f));
                kernels::embedding(ey.p(), ids.data(), et.p(), dt, 8, d, row_begin, rows, nullptr);
                cpu().embedding(cy, ci, ct, row_begin);
                CHECK(host(ey) == get(cpu(), cy));
            }
            DevArray ez = dev(dt, std::vector<float>(size_t(6 * d), 7.0f));
            kernels::gather_rows(ez.p(), et.p(), sel.data(), dt, 6, d, rows, nullptr);
            const auto got = host(ez);
            for (size_t i = 0; i < sel.size(); i++)
                for (int64_t j = 0; j < d; j++)
                    CHECK(got[i * size_t(d) + size_t(j)] ==
                          (sel[i] >= 0 && sel[i] < rows ? table[size_t(sel[i] * d + j)] : 0.0f));
        });
    }
}

TEST_CASE("write_kv: each token's K/V row into its slot; slots < 0 (graph padding) or past the cache skipped") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        const int64_t n_slots = 32, d = 300;
        const auto cache = rounded(dt, randn(size_t(n_slots * d))), k = rounded(dt, randn(size_t(5 * d)));
        const auto v = rounded(dt, randn(size_t(5 * d)));
        std::vector<int32_t> slots = {17, -1, 3, 31, 32};
        auto want_k = cache, want_v = cache;
        for (size_t i = 0; i < slots.size(); i++) {
            if (slots[i] < 0 || slots[i] >= n_slots) continue;
            std::copy_n(&k[i * size_t(d)], d, &want_k[size_t(slots[i] * d)]);
            std::copy_n(&v[i * size_t(d)], d, &want_v[size_t(slots[i] * d)]);
        }
        each_order([&] {
            DevArray ek = dev(dt, cache), ev = dev(dt, cache), kn = dev(dt, k), vn = dev(dt, v);
            kernels::write_kv(ek.p(), ev.p(), kn.p(), vn.p(), slots.data(), dt, 5, d, n_slots, nullptr);
            CHECK(host(ek) == want_k);
            CHECK(host(ev) == want_v);
        });
    }
}

// The layout of tests/gpu/test_cuda_backend.cpp's attention case: four sequences over a shuffled pool of
// 16-slot blocks. A prefill of 20 tokens (2 blocks), a decode at position 37 (3 blocks), a chunk of 5 tokens
// at positions 30..34 after 30 cached ones, a decode at position 150 (10 blocks).
struct PagedCase {
    int64_t d_head, n_heads = 4, bs = 16, n_blocks = 32, max_blocks = 10;
    std::vector<int32_t> tables;
    int64_t d_row() const { return n_heads * d_head; }
    int64_t n_slots() const { return n_blocks * bs; }
    explicit PagedCase(int64_t dh) : d_head(dh) {
        std::vector<int32_t> pool(static_cast<size_t>(n_blocks));
        std::iota(pool.begin(), pool.end(), 0);
        std::shuffle(pool.begin(), pool.end(), std::mt19937(7));
        const int64_t blocks_of[4] = {2, 3, 3, 10};
        tables.assign(size_t(4 * max_blocks), -1);  // unused entries are never read
        for (int64_t s = 0, next = 0; s < 4; s++)
            for (int64_t j = 0; j < blocks_of[s]; j++) tables[size_t(s * max_blocks + j)] = pool[size_t(next++)];
    }
};

struct Batch {
    std::vector<int32_t> query_start, positions;
};

Batch mixed_batch() {
    Batch b{{0, 20, 21, 26, 27}, {}};
    for (int p = 0; p < 20; p++) b.positions.push_back(p);
    b.positions.push_back(37);
    for (int p = 30; p < 35; p++) b.positions.push_back(p);
    b.positions.push_back(150);
    return b;
}

// The CPU backend's attention of `batch` over fp32 caches kc/vc: the reference, [n_tokens, d_row].
std::vector<float> cpu_attention(const PagedCase& c, const Batch& batch, const std::vector<float>& q,
                                 const std::vector<float>& kc, const std::vector<float>& vc, float scale) {
    const int64_t n = int64_t(batch.positions.size()), n_seqs = int64_t(batch.query_start.size()) - 1;
    const int64_t d_row = c.d_row(), n_slots = c.n_slots();
    Buffer ck = put(cpu(), DType::F32, kc, {n_slots, d_row}), cv = put(cpu(), DType::F32, vc, {n_slots, d_row});
    Buffer qs = put_i32(cpu(), batch.query_start, {n_seqs + 1}), pos = put_i32(cpu(), batch.positions, {n});
    Buffer tab = put_i32(cpu(), c.tables, {n_seqs, c.max_blocks});
    Buffer cq = put(cpu(), DType::F32, q, {n, d_row}), out = cpu().alloc(DType::F32, {n, d_row});
    cpu().attention(out, cq, ck, cv, AttentionInputs{qs, pos, tab, int(c.bs)}, int(c.n_heads), scale);
    return get(cpu(), out);
}

TEST_CASE("paged attention: mixed prefill + decode (prefill kernel) and decode only (decode kernel)") {
    // A lane holds 1, 3 (half a warp idle in the last), 4 or 8 elements; d_head 256 takes the warp-per-query
    // prefill kernel, the others the tiled one.
    for (const int64_t d_head : {32, 80, 128, 256}) {
        CAPTURE(d_head);
        const PagedCase c(d_head);
        const float scale = 1.0f / std::sqrt(float(d_head));
        const Batch mixed = mixed_batch(), decode{{0, 1, 2, 3, 4}, {19, 37, 34, 150}};
        // As many tokens as sequences but not one each (the decode kernel, a sequence's queries in turn): two
        // queries of the first sequence, none of the second.
        const Batch uneven{{0, 2, 2, 3, 4}, {18, 19, 34, 150}};
        for (DType dt : kDtypes) {
            CAPTURE(dtype_name(dt));
            const auto kc = rounded(dt, randn(size_t(c.n_slots() * c.d_row())));
            const auto vc = rounded(dt, randn(size_t(c.n_slots() * c.d_row())));
            DevArray ek = dev(dt, kc), ev = dev(dt, vc);
            for (const Batch* batch : {&mixed, &decode, &uneven}) {
                const int64_t n = int64_t(batch->positions.size());
                CAPTURE(n);
                const auto q = rounded(dt, randn(size_t(n * c.d_row())));
                const auto want = cpu_attention(c, *batch, q, kc, vc, scale);
                kernels::PagedAttentionShape sh{n, 4, c.n_heads, d_head, c.bs, c.max_blocks, c.n_slots()};
                each_order([&] {
                    DevArray eq = dev(dt, q), eo = dev(dt, std::vector<float>(q.size()));
                    kernels::paged_attention(eo.p(), eq.p(), ek.p(), ev.p(), batch->query_start.data(),
                                             batch->positions.data(), c.tables.data(), dt, sh, scale, {}, nullptr,
                                             nullptr);
                    EXPECT_CLOSE(host(eo), want, dt);
                });
            }
        }
    }
}

// A decode at position 600 (601 keys: three 32-key tiles for some of the decode kernel's warps, so each warp
// rescales its own running sum) and a prefill after it, over a cache whose every slot outside the block tables
// holds NaN, slot 0 included: no key past a context may be read.
TEST_CASE("paged attention: long contexts, and NaN in slots outside the tables never reaches the result") {
    for (const int64_t d_head : {64, 256}) {  // the tiled prefill kernel, and the warp-per-query one
        CAPTURE(d_head);
        PagedCase c(d_head);
        c.n_blocks = 48;
        c.max_blocks = 40;
        c.tables.assign(size_t(2 * c.max_blocks), -1);
        for (int64_t j = 0; j < 38; j++) c.tables[size_t(j)] = int32_t(38 - j);  // blocks 38..1: block 0 unused
        c.tables[size_t(c.max_blocks)] = 45;
        c.tables[size_t(c.max_blocks + 1)] = 41;
        std::vector<bool> used(size_t(c.n_blocks), false);
        for (int32_t b : c.tables)
            if (b >= 0) used[size_t(b)] = true;
        const DType dt = DType::F16;
        auto kc = rounded(dt, randn(size_t(c.n_slots() * c.d_row())));
        auto vc = rounded(dt, randn(size_t(c.n_slots() * c.d_row())));
        for (int64_t slot = 0; slot < c.n_slots(); slot++)
            if (!used[size_t(slot / c.bs)])
                for (int64_t e = 0; e < c.d_row(); e++) kc[size_t(slot * c.d_row() + e)] = vc[size_t(slot * c.d_row() + e)] = NAN;
        DevArray ek = dev(dt, kc), ev = dev(dt, vc);
        const float scale = 1.0f / std::sqrt(float(d_head));
        const Batch decode{{0, 1, 2}, {600, 20}}, prefill{{0, 1, 6}, {600, 15, 16, 17, 18, 19}};
        for (const Batch* batch : {&decode, &prefill}) {
            const int64_t n = int64_t(batch->positions.size());
            CAPTURE(n);
            const auto q = rounded(dt, randn(size_t(n * c.d_row())));
            const auto want = cpu_attention(c, *batch, q, kc, vc, scale);
            kernels::PagedAttentionShape sh{n, 2, c.n_heads, d_head, c.bs, c.max_blocks, c.n_slots()};
            // The decode split too: 19 tiles into 3 (6, 6, 7) or 5 ranges (3 or 4, some warps without a tile),
            // and the 21-key context into ranges mostly empty. NaN partials: each one read must be written.
            for (const int splits : batch == &decode ? std::vector<int>{1, 3, 5} : std::vector<int>{1}) {
                CAPTURE(splits);
                const int64_t n_partials = kernels::decode_partials_floats(sh, splits);
                each_order([&] {
                    DevArray eq = dev(dt, q), eo = dev(dt, std::vector<float>(q.size()));
                    DevArray part = dev(DType::F32, std::vector<float>(size_t(n_partials), NAN));
                    kernels::paged_attention(eo.p(), eq.p(), ek.p(), ev.p(), batch->query_start.data(),
                                             batch->positions.data(), c.tables.data(), dt, sh, scale, {splits, 1},
                                             splits > 1 ? static_cast<float*>(part.p()) : nullptr, nullptr);
                    EXPECT_CLOSE(host(eo), want, dt);
                });
            }
        }
    }
}

// A block table entry past the cache (a corrupt table) must not be read: its 16 keys count for nothing, the
// others are attended as usual, and the slot read in its place (slot 0, NaN here) never reaches the result.
TEST_CASE("paged attention: keys of a table entry outside the cache count for nothing") {
    const int64_t d_head = 64, n_heads = 2, d_row = n_heads * d_head, bs = 16, n_blocks = 8, n_slots = n_blocks * bs;
    const std::vector<int32_t> table = {5, 1000, 7};  // keys 16..31 lie in no block of the cache
    const int32_t pos = 40;
    const float scale = 0.125f;
    auto kc = randn(size_t(n_slots * d_row)), vc = randn(size_t(n_slots * d_row));
    for (int64_t slot = 0; slot < n_slots; slot++)
        if (slot / bs != 5 && slot / bs != 7)
            for (int64_t e = 0; e < d_row; e++) kc[size_t(slot * d_row + e)] = vc[size_t(slot * d_row + e)] = NAN;
    const auto q = randn(size_t(d_row));
    std::vector<float> want(size_t(d_row), 0.0f);  // softmax over keys 0..15 and 32..40 only, in double
    for (int64_t h = 0; h < n_heads; h++) {
        std::vector<double> score;
        std::vector<int64_t> slots;
        for (int32_t j = 0; j <= pos; j++) {
            if (j / bs == 1) continue;
            const int64_t slot = int64_t(table[size_t(j / bs)]) * bs + j % bs;
            double dot = 0;
            for (int64_t e = 0; e < d_head; e++)
                dot += double(q[size_t(h * d_head + e)]) * kc[size_t(slot * d_row + h * d_head + e)];
            score.push_back(dot * scale);
            slots.push_back(slot);
        }
        const double m = *std::max_element(score.begin(), score.end());
        double l = 0;
        for (double& x : score) l += (x = std::exp(x - m));
        for (int64_t e = 0; e < d_head; e++) {
            double o = 0;
            for (size_t i = 0; i < slots.size(); i++) o += score[i] * vc[size_t(slots[i] * d_row + h * d_head + e)];
            want[size_t(h * d_head + e)] = float(o / l);
        }
    }
    const std::vector<int32_t> query_start = {0, 1}, positions = {pos};
    DevArray ek = dev(DType::F32, kc), ev = dev(DType::F32, vc);
    each_order([&] {
        DevArray eq = dev(DType::F32, q), eo = dev(DType::F32, std::vector<float>(q.size()));
        kernels::PagedAttentionShape sh{1, 1, n_heads, d_head, bs, int64_t(table.size()), n_slots};
        kernels::paged_attention(eo.p(), eq.p(), ek.p(), ev.p(), query_start.data(), positions.data(), table.data(),
                                 DType::F32, sh, scale, {}, nullptr, nullptr);
        EXPECT_CLOSE(host(eo), want, DType::F32);
    });
}

// A CUDA graph replays decode at a padded batch: the padding sequences have one query each at position 0 with
// an all-zero block table (engine/device_step.cpp). Their rows are garbage nobody samples, but the real rows
// must equal the unpadded step's, and a prefill batch must leave rows outside every sequence as they were.
TEST_CASE("paged attention: graph padding leaves the real rows unchanged, and rows outside the batch alone") {
    const DType dt = DType::F16;
    const PagedCase c(64);
    const float scale = 0.125f;
    const auto kc = rounded(dt, randn(size_t(c.n_slots() * c.d_row())));
    const auto vc = rounded(dt, randn(size_t(c.n_slots() * c.d_row())));
    DevArray ek = dev(dt, kc), ev = dev(dt, vc);
    const Batch decode{{0, 1, 2, 3, 4}, {19, 37, 34, 150}};
    const int64_t n_pad = 8, max_pad = 12;  // a graph captured for 8 sequences and 12 blocks each
    Batch padded{{0, 1, 2, 3, 4, 5, 6, 7, 8}, decode.positions};
    padded.positions.resize(size_t(n_pad), 0);
    std::vector<int32_t> tables(size_t(n_pad * max_pad), 0);
    for (int64_t s = 0; s < 4; s++)
        std::copy_n(&c.tables[size_t(s * c.max_blocks)], c.max_blocks, &tables[size_t(s * max_pad)]);
    const auto q = rounded(dt, randn(size_t(n_pad * c.d_row())));
    const std::vector<float> q4(q.begin(), q.begin() + 4 * c.d_row());
    const auto want = cpu_attention(c, decode, q4, kc, vc, scale);
    each_order([&] {
        DevArray eq = dev(dt, q), eo = dev(dt, std::vector<float>(q.size()));
        kernels::PagedAttentionShape sh{n_pad, n_pad, c.n_heads, 64, c.bs, max_pad, c.n_slots()};
        kernels::paged_attention(eo.p(), eq.p(), ek.p(), ev.p(), padded.query_start.data(), padded.positions.data(),
                                 tables.data(), dt, sh, scale, {}, nullptr, nullptr);
        auto got = host(eo);
        got.resize(want.size());
        EXPECT_CLOSE(got, want, dt);

        // Prefill kernel: 3 sequences own rows 0..25 of 30; rows 26..29 (padding) keep their sentinel.
        const Batch mixed = mixed_batch();
        Batch three{{0, 20, 21, 26}, std::vector<int32_t>(mixed.positions.begin(), mixed.positions.begin() + 26)};
        three.positions.resize(30, 0);
        DevArray sent = dev(dt, std::vector<float>(size_t(30 * c.d_row()), 3.0f)), eq30 = dev(dt, randn(size_t(30 * c.d_row())));
        kernels::PagedAttentionShape sh3{30, 3, c.n_heads, 64, c.bs, c.max_blocks, c.n_slots()};
        kernels::paged_attention(sent.p(), eq30.p(), ek.p(), ev.p(), three.query_start.data(), three.positions.data(),
                                 c.tables.data(), dt, sh3, scale, {}, nullptr, nullptr);
        const auto rows = host(sent);
        CHECK(std::all_of(rows.begin() + 26 * c.d_row(), rows.end(), [](float x) { return x == 3.0f; }));
        CHECK(std::none_of(rows.begin(), rows.begin() + 26 * c.d_row(), [](float x) { return x == 3.0f; }));
    });
}

// Split decode (decode_splits on a GPU with more SMs than (sequence, head) blocks): any split gives the unsplit
// result, for each way a lane holds the head (d_head 32, 80, 256; every dtype at 80), with ranges past a short
// context left empty (8 ranges of 5 tiles, or of 1), contexts cut by their own length (64 keys a range: the
// 20-, 35- and 38-key contexts in one range, written by the decode kernel, the 151-key one in 3, combined), a
// sequence with two queries and one with none, and a row outside the batch (query_start ends before n_tokens)
// that keeps its value.
TEST_CASE("paged attention: decode split into ranges of the context, then combined") {
    for (const int64_t d_head : {32, 80, 256}) {
        CAPTURE(d_head);
        const PagedCase c(d_head);
        const float scale = 1.0f / std::sqrt(float(d_head));
        const Batch decode{{0, 1, 2, 3, 4}, {19, 37, 34, 150}}, uneven{{0, 2, 2, 3, 4}, {18, 19, 34, 150}};
        const Batch short_of_rows{{0, 1, 2, 3, 3}, {19, 37, 34, 0}};  // row 3 is no sequence's
        for (DType dt : kDtypes) {
            if (d_head != 80 && dt != DType::F16) continue;  // every dtype once: the emulation is slow
            CAPTURE(dtype_name(dt));
            const auto kc = rounded(dt, randn(size_t(c.n_slots() * c.d_row())));
            const auto vc = rounded(dt, randn(size_t(c.n_slots() * c.d_row())));
            DevArray ek = dev(dt, kc), ev = dev(dt, vc);
            for (const Batch* batch : {&decode, &uneven, &short_of_rows}) {
                const int64_t n = int64_t(batch->positions.size()), rows = batch->query_start.back();
                CAPTURE(rows);
                const auto q = rounded(dt, randn(size_t(n * c.d_row())));
                auto want = cpu_attention(c, *batch, q, kc, vc, scale);
                want.resize(size_t(rows * c.d_row()));
                kernels::PagedAttentionShape sh{n, 4, c.n_heads, d_head, c.bs, c.max_blocks, c.n_slots()};
                for (const kernels::DecodeSplits splits : {kernels::DecodeSplits{2, 1}, {3, 1}, {8, 1}, {4, 64}}) {
                    CAPTURE(splits.max);
                    CAPTURE(splits.min_keys);
                    each_order([&] {
                        DevArray eq = dev(dt, q), eo = dev(dt, std::vector<float>(q.size(), 3.0f));
                        const size_t n_partials = size_t(kernels::decode_partials_floats(sh, splits.max));
                        DevArray part = dev(DType::F32, std::vector<float>(n_partials, NAN));
                        kernels::paged_attention(eo.p(), eq.p(), ek.p(), ev.p(), batch->query_start.data(),
                                                 batch->positions.data(), c.tables.data(), dt, sh, scale, splits,
                                                 static_cast<float*>(part.p()), nullptr);
                        auto got = host(eo);
                        const auto outside = got.begin() + rows * c.d_row();
                        CHECK(std::all_of(outside, got.end(), [](float x) { return x == 3.0f; }));
                        got.resize(want.size());
                        EXPECT_CLOSE(got, want, dt);
                    });
                }
            }
        }
    }
}

// Which heads take decode's vector path (16-byte loads, G lanes a key) and which the scalar one: the cases above
// run both (d_head 32 and 128 vector in every dtype, 256 in fp16/bf16; 80 scalar; 256 in fp32 scalar).
TEST_CASE("paged attention: the decode kernel's vector path, by head size, dtype and alignment") {
    alignas(16) static float cache[64];
    const void* p = cache;
    CHECK(kernels::decode_vectors(64, 2, p, p) == 8);  // opt-1.3b's heads in fp16/bf16
    CHECK(kernels::decode_vectors(64, 4, p, p) == 16);
    CHECK(kernels::decode_vectors(16, 2, p, p) == 2);   // opt-tiny
    CHECK(kernels::decode_vectors(4, 4, p, p) == 1);    // opt-tiny-16h in fp32
    CHECK(kernels::decode_vectors(256, 2, p, p) == 32);
    CHECK(kernels::decode_vectors(4, 2, p, p) == 0);    // half a vector
    CHECK(kernels::decode_vectors(80, 2, p, p) == 0);   // 10 vectors: not a power of two
    CHECK(kernels::decode_vectors(256, 4, p, p) == 0);  // 64 vectors: more than a warp's lanes
    CHECK(kernels::decode_vectors(64, 2, p, cache + 1) == 0);
}

// The split count: two blocks per SM at most, no more ranges than 512-key ones in what the tables can hold, none
// for a batch that is not decode; and a split only where it can be combined.
TEST_CASE("paged attention: how many splits a decode gets, and splits refused where they cannot apply") {
    // opt-1.3b at TP=1 (32 heads of 64) on 132 SMs, 2048-token tables: 9 blocks per head wanted, 4 ranges allowed.
    kernels::PagedAttentionShape sh{1, 1, 32, 64, 16, 128, 1 << 20};
    auto max_splits = [&] { return kernels::decode_splits(sh, 132).max; };
    CHECK(max_splits() == 4);
    CHECK(kernels::decode_splits(sh, 132).min_keys == 512);
    CHECK(kernels::decode_partials_floats(sh, 4) == 1 * 32 * 4 * 66);
    CHECK(kernels::decode_partials_floats(sh, 1) == 0);
    sh.max_blocks = 32;  // 512 keys: too few to split
    CHECK(max_splits() == 1);
    sh.max_blocks = 1 << 14;  // long tables: the SMs decide, 9
    CHECK(max_splits() == 9);
    sh.n_heads = 1;  // one head: 264 blocks wanted, capped
    CHECK(max_splits() == kernels::kMaxDecodeSplits);
    sh.n_heads = 32;
    sh.n_tokens = sh.n_seqs = 32;  // 1024 blocks already fill 132 SMs
    CHECK(max_splits() == 1);
    CHECK(kernels::decode_splits(sh, 132, 7).max == 7);  // forced (LOCKSTEP_DECODE_SPLITS), whatever the lengths
    CHECK(kernels::decode_splits(sh, 132, 7).min_keys == 1);
    sh.n_tokens = 40;  // a prefill chunk, forced or not
    CHECK(max_splits() == 1);
    CHECK(kernels::decode_splits(sh, 132, 7).max == 1);

    const PagedCase c(64);
    const Batch prefill = mixed_batch();
    const int64_t n = int64_t(prefill.positions.size());
    const auto q = randn(size_t(n * c.d_row())), cache = randn(size_t(c.n_slots() * c.d_row()));
    DevArray eq = dev(DType::F32, q), eo = dev(DType::F32, q), ek = dev(DType::F32, cache);
    std::vector<float> part(1 << 16);
    kernels::PagedAttentionShape mixed{n, 4, c.n_heads, 64, c.bs, c.max_blocks, c.n_slots()};
    kernels::PagedAttentionShape dec{4, 4, c.n_heads, 64, c.bs, c.max_blocks, c.n_slots()};
    auto launch = [&](const kernels::PagedAttentionShape& s, int splits, float* p) {
        kernels::paged_attention(eo.p(), eq.p(), ek.p(), ek.p(), prefill.query_start.data(), prefill.positions.data(),
                                 c.tables.data(), DType::F32, s, 0.125f, {splits, 1}, p, nullptr);
    };
    CHECK_THROWS_WITH(launch(mixed, 2, part.data()), doctest::Contains("more than 1 only for a decode batch"));
    CHECK_THROWS_WITH(launch(dec, 2, nullptr), doctest::Contains("with partials"));
    CHECK_THROWS_WITH(launch(dec, kernels::kMaxDecodeSplits + 1, part.data()), doctest::Contains("(1..32 splits"));
    CHECK_NOTHROW(launch(dec, 2, part.data()));
}

TEST_CASE("convert: every pair of F32, F16, BF16, rounding to nearest even as the CPU backend") {
    const auto x = randn(1000, 3.0f);
    for (DType from : kDtypes)
        for (DType to : kDtypes) {
            CAPTURE(dtype_name(from));
            CAPTURE(dtype_name(to));
            const auto xr = rounded(from, x);
            Buffer cx = put(cpu(), DType::F32, xr, {1000}), cy = cpu().alloc(to, {1000});
            cpu().convert(cy, cx);
            DevArray ex = dev(from, xr), ey = dev(to, std::vector<float>(1000));
            kernels::convert(ey.p(), to, ex.p(), from, 1000, nullptr);
            CHECK(host(ey) == get(cpu(), cy));
        }
}

TEST_CASE("argmax_rows: OPT's vocabulary, the first of a tie, NaN never chosen but flagged, as the CPU backend") {
    for (DType dt : kDtypes) {
        CAPTURE(dtype_name(dt));
        const int64_t n = 6, vocab = 50272, stride = 50304;  // a TP block's row: padded past its vocabulary
        auto logits = rounded(dt, randn(size_t(n * stride), 4.0f));
        auto at = [&](int64_t r, int64_t j) -> float& { return logits[size_t(r * stride + j)]; };
        // A tie: the first wins, though thread 1000 holds it and thread 5, in a lower lane, the later one.
        at(1, 1000) = at(1, 1029) = 100.0f;
        at(2, 3) = 100.0f;
        at(2, 2) = at(2, 50000) = NAN;  // NaN beside the maximum: not chosen, but the row is flagged
        std::fill(&at(3, 0), &at(3, vocab), NAN);
        std::fill(&at(4, 0), &at(4, vocab), -INFINITY);
        at(4, 7) = at(0, vocab + 5) = INFINITY;  // +inf is flagged; past n_cols it is not read
        at(5, 70) = 8192.0f;  // exact in every dtype
        at(5, vocab + 1) = 16384.0f;  // past n_cols: not the row's maximum
        std::vector<int32_t> want_i(static_cast<size_t>(n));
        std::vector<float> want_v(static_cast<size_t>(n));
        {
            Buffer cx = put(cpu(), DType::F32, logits, {n, stride});
            Buffer ci = cpu().alloc(DType::I32, {n}), cv = cpu().alloc(DType::F32, {n});
            cpu().argmax_rows(ci, cv, cx, vocab);
            cpu().copy_to_host(want_i.data(), ci);
            cpu().copy_to_host(want_v.data(), cv);
        }
        CHECK(want_i[1] == 1000);
        CHECK(want_i[2] == 3);
        CHECK(std::isnan(want_v[2]));
        CHECK(want_i[3] == 0);
        CHECK(std::isnan(want_v[3]));
        CHECK(std::isnan(want_v[4]));
        CHECK(want_i[5] == 70);
        CHECK(want_v[5] == 8192.0f);
        CHECK(std::isfinite(want_v[0]));
        const float* row0 = logits.data();
        CHECK(want_i[0] == int32_t(std::max_element(row0, row0 + vocab) - row0));
        each_order([&] {
            DevArray el = dev(dt, logits);
            std::vector<int32_t> got_i(size_t(n), -1);
            std::vector<float> got_v(size_t(n), 0.0f);
            kernels::argmax_rows(got_i.data(), got_v.data(), el.p(), dt, n, vocab, stride, nullptr);
            CHECK(got_i == want_i);
            for (int64_t r = 0; r < n; r++) {
                CAPTURE(r);
                const float g = got_v[size_t(r)], w = want_v[size_t(r)];
                CHECK((std::isnan(g) ? std::isnan(w) : g == w));
            }
        });
    }
}

TEST_CASE("argmax_rows: a row of -inf gives its first column and -inf") {
    std::vector<float> logits(64, -INFINITY);
    DevArray el = dev(DType::F32, logits);
    int32_t i = -1;
    float v = 0;
    kernels::argmax_rows(&i, &v, el.p(), DType::F32, 1, 64, 64, nullptr);
    CHECK(i == 0);
    CHECK(v == -INFINITY);
}
