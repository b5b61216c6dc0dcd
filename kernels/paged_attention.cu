// Paged KV cache: write_kv scatters this step's K/V rows into their slots; paged_attention reads each token's
// context back through its sequence's block table. Online softmax (running max m, running sum l, rescaled
// accumulator) so a context of any length takes one pass over K/V, all in fp32.
//
// Decode: a warp takes 32 keys at a time. Where a head's row is G 16-byte vectors (G a power of two ≤ 32: d_head
// 64 in fp16 is 8), G lanes read one key's row, each lane one vector, so a warp reads 32 / G rows in one
// instruction and keeps the tile's loads in flight together before it uses any (attend_vec); the G lanes add
// their partial dot products in log2(G) shuffles, and for V each lane accumulates its vector of the output over
// its group's keys, the groups added once at the end. (The first version gave each key a whole-warp reduction,
// one 2-byte load per lane: 45 us per 32-key tile on an H200, 55 us per layer at batch 1.) Other heads, and
// prefill with d_head > 128: lane L holds elements L, L+32, ... of the head (≤ 8 each: d_head ≤ 256) and scores
// one key at a time (attend).
// Split decode (flash-decoding; vLLM's paged_attention_v2): a block per (sequence, head) is 32 blocks for one
// sequence of a 32-head model, a quarter of an H100's SMs, each reading its whole context. With splits the
// context's tiles are cut into contiguous ranges, a block each; a block leaves its range's running state (max,
// sum, unnormalised output) in `partials`, and combine_splits_kernel rescales them to one max and divides once,
// the same algebra as the warps of a block. How many ranges a context takes is decided on the device from its
// length (n_ranges), so a CUDA graph launched for the longest context still reads a short one in one block.
// Prefill (d_head ≤ 128): FlashAttention's tiling. A block takes up to 16 queries of one sequence and one head;
// it stages 32 keys at a time of K and V in shared memory, read once for all its queries (a warp per query
// read them once per query), and a lane scores one key of the tile, so a tile costs a query two warp
// reductions (max and sum) instead of one per key.
#include "common.cuh"
#include "kernels.h"

namespace ls::kernels {
namespace {

constexpr int kMaxPerLane = 8;
constexpr int kMaxDHead = kMaxPerLane * kWarp;
constexpr int kDecodeWarps = 8;   // warps of one (sequence, head) block, splitting the context
constexpr int kPrefillWarps = 4;  // one (token, head) per warp
constexpr int kTileQueries = 16;  // tiled prefill: queries of one sequence per block, kTiledWarps of them a warp
constexpr int kTiledWarps = 4;
constexpr int kTileKeys = kWarp;  // keys staged at a time: one per lane
constexpr int kTiledPerLane = 4;  // output elements a lane holds: d_head ≤ 128
constexpr int kTiledMaxDHead = kTiledPerLane * kWarp;
constexpr int64_t kSplitKeys = 2 * kDecodeWarps * kWarp;  // fewest keys worth a split: two tiles for each warp
constexpr int kCombineThreads = 128;

// The ranges a context of n keys is cut into: one per min_keys, at most max.
__host__ __device__ __forceinline__ int64_t n_ranges(int64_t n, const DecodeSplits& sp) {
    const int64_t by_keys = ceil_div(n, sp.min_keys);
    return by_keys < sp.max ? (by_keys < 1 ? 1 : by_keys) : sp.max;
}

// k_cache, v_cache: [n_slots, d_row]; k, v: [n_tokens, d_row]; slot_mapping: [n_tokens].
template <class T>
__global__ void write_kv_kernel(T* k_cache, T* v_cache, const T* k, const T* v, const int32_t* slot_mapping,
                                int64_t n_tokens, int64_t d_row, int64_t n_slots) {
    for (int64_t i = blockIdx.x; i < n_tokens; i += gridDim.x) {
        const int64_t slot = slot_mapping[i];
        if (slot < 0 || slot >= n_slots) continue;
        for (int64_t j = threadIdx.x; j < d_row; j += blockDim.x) {
            k_cache[slot * d_row + j] = k[i * d_row + j];
            v_cache[slot * d_row + j] = v[i * d_row + j];
        }
    }
}

struct Softmax {  // one warp's running state over the keys it has seen
    float m = -INFINITY, l = 0.0f;
    float acc[kMaxPerLane] = {};
};

// The slot of key j of a context of n keys (the lane's key of a tile), or -1 past the context or outside the
// cache: a corrupt table must not read outside it.
__device__ __forceinline__ int64_t key_slot(const int32_t* table, int64_t j, int64_t n, const PagedAttentionShape& sh) {
    const int64_t slot = j < n ? int64_t(table[j / sh.block_size]) * sh.block_size + j % sh.block_size : -1;
    return slot < sh.n_slots ? slot : -1;
}

// One tile of the online softmax, for a warp whose lane L scored key L (s; -inf: no such key): the running max
// m and sum l move to the tile's, acc is rescaled to the new max, and p is this lane's key's weight. False (the
// state unchanged) when no key of the tile is readable, which is uniform in the warp.
template <int N>
__device__ __forceinline__ bool softmax_tile(float& m, float& l, float (&acc)[N], float s, float& p) {
    const float tile_max = warp_max(s);
    if (tile_max == -INFINITY) return false;
    const float m_new = fmaxf(m, tile_max), corr = expf(m - m_new);
    p = s == -INFINITY ? 0.0f : expf(s - m_new);
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int c = 0; c < N; c++) acc[c] *= corr;
    m = m_new;
    return true;
}

// Folds the keys of one head into st a tile of kWarp keys at a time: the tiles starting at j_begin,
// j_begin + j_step, ... below n. Lane L looks up the slot of the tile's key L, so a tile costs one round of
// table reads, and its 32 K rows (then V rows) are loads independent of each other that the warp keeps in
// flight together, not one key's dependent table-read → K-read → reduction after another. A row is read by the
// whole warp (lane L: elements L, L + 32, ...), coalesced. A key whose table entry points outside the cache
// reads slot 0 instead (in range) and counts for nothing. q: this lane's elements of the query, pre-scaled.
// table: [max_blocks] of the token's sequence; head: offset of the head in a row.
template <class T>
__device__ void attend(Softmax& st, const float (&q)[kMaxPerLane], const T* k_cache, const T* v_cache,
                       const int32_t* table, int64_t j_begin, int64_t n, int64_t j_step, const PagedAttentionShape& sh,
                       int64_t head) {
    const int lane = threadIdx.x % kWarp;
    const int64_t d_row = sh.n_heads * sh.d_head;
    for (int64_t j0 = j_begin; j0 < n; j0 += j_step) {
        const int64_t slot = key_slot(table, j0 + lane, n, sh);
        float s = -INFINITY;  // lane L: the score of key j0 + L
        // Only the tile's keys inside the context: a short one (a decode at position 0, the padding rows of a
        // CUDA graph) costs its keys, not 32. Warp-uniform.
        const int in_tile = n - j0 < kWarp ? int(n - j0) : kWarp;
#pragma unroll 8
        for (int jj = 0; jj < in_tile; jj++) {
            const int64_t sj = __shfl_sync(0xffffffffu, slot, jj);
            const T* kr = k_cache + (sj < 0 ? 0 : sj) * d_row + head;
            float dot = 0.0f;
#pragma unroll
            for (int c = 0; c < kMaxPerLane; c++) {
                const int e = lane + c * kWarp;
                if (e < sh.d_head) dot += q[c] * to_f32(kr[e]);
            }
            dot = warp_sum(dot);
            if (lane == jj && sj >= 0) s = dot;
        }
        float p;
        if (!softmax_tile(st.m, st.l, st.acc, s, p)) continue;
#pragma unroll 8
        for (int jj = 0; jj < in_tile; jj++) {
            const int64_t sj = __shfl_sync(0xffffffffu, slot, jj);
            const float pj = __shfl_sync(0xffffffffu, p, jj);
            const T* vr = v_cache + (sj < 0 ? 0 : sj) * d_row + head;
#pragma unroll
            for (int c = 0; c < kMaxPerLane; c++) {
                const int e = lane + c * kWarp;
                // Select, not multiply: slot 0 of an unreadable key may hold anything, NaN included.
                if (e < sh.d_head && sj >= 0) st.acc[c] += pj * to_f32(vr[e]);
            }
        }
    }
}

// --- The vector path of decode: 16-byte loads of K and V rows (load16, widen: common.cuh) ---
constexpr int kVecInFlight = 8;  // loads a lane issues before it uses the first

// The running state of one warp on the vector path: lane (group g = lane / G, c = lane % G) holds, in acc, the
// unnormalised output's vector c summed over the keys its group read; m and l are the warp's.
template <class T>
struct VecSoftmax {
    float m = -INFINITY, l = 0.0f;
    float acc[kVec<T>] = {};
};

// As attend, for a head of G vectors. q: this lane's vector of the query (vector c), pre-scaled. In pass p of a
// 32-key tile, group g reads key p · (32 / G) + g; lane L then takes key L's score from the group that read it,
// so the softmax below is attend's, one key per lane.
template <class T, int G>
__device__ void attend_vec(VecSoftmax<T>& st, const float (&q)[kVec<T>], const T* k_cache, const T* v_cache,
                           const int32_t* table, int64_t j_begin, int64_t n, int64_t j_step,
                           const PagedAttentionShape& sh, int64_t head) {
    constexpr int V = kVec<T>, kKeys = kWarp / G, kBatch = G < kVecInFlight ? G : kVecInFlight;
    const int lane = threadIdx.x % kWarp, g = lane / G, c = lane % G;
    const int64_t d_row = sh.n_heads * sh.d_head, col = head + int64_t(c) * V;
    for (int64_t j0 = j_begin; j0 < n; j0 += j_step) {
        const int64_t slot = key_slot(table, j0 + lane, n, sh);
        float s = -INFINITY;
        for (int p0 = 0; p0 < G; p0 += kBatch) {
            uint4 kv[kBatch];
#pragma unroll
            for (int b = 0; b < kBatch; b++) {
                const int64_t sj = __shfl_sync(0xffffffffu, slot, (p0 + b) * kKeys + g);
                kv[b] = sj >= 0 ? load16(k_cache + sj * d_row + col) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int b = 0; b < kBatch; b++) {
                float kf[V];
                widen<T>(kv[b], kf);
                float dot = 0.0f;
#pragma unroll
                for (int e = 0; e < V; e++) dot += q[e] * kf[e];
#pragma unroll
                for (int o = G / 2; o > 0; o /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, o);
                const float from = __shfl_sync(0xffffffffu, dot, (lane % kKeys) * G);
                if (lane / kKeys == p0 + b && slot >= 0) s = from;
            }
        }
        float p;
        if (!softmax_tile(st.m, st.l, st.acc, s, p)) continue;
        for (int p0 = 0; p0 < G; p0 += kBatch) {
            uint4 vv[kBatch];
            float pj[kBatch];
#pragma unroll
            for (int b = 0; b < kBatch; b++) {
                const int jj = (p0 + b) * kKeys + g;
                const int64_t sj = __shfl_sync(0xffffffffu, slot, jj);
                pj[b] = __shfl_sync(0xffffffffu, p, jj);
                // Select, not multiply: an unreadable key's row is not read at all.
                vv[b] = sj >= 0 ? load16(v_cache + sj * d_row + col) : make_uint4(0, 0, 0, 0);
                if (sj < 0) pj[b] = 0.0f;
            }
#pragma unroll
            for (int b = 0; b < kBatch; b++) {
                float vf[V];
                widen<T>(vv[b], vf);
#pragma unroll
                for (int e = 0; e < V; e++) st.acc[e] += pj[b] * vf[e];
            }
        }
    }
    // The groups' sums of each vector: lanes c, c + G, ... added; lanes 0..G-1 end with the warp's.
#pragma unroll
    for (int o = G; o < kWarp; o *= 2)
#pragma unroll
        for (int e = 0; e < V; e++) st.acc[e] += __shfl_xor_sync(0xffffffffu, st.acc[e], o);
}

// Running softmax states merged, as the warps of a decode block and then the ranges of a split context are:
// state i has max m[i · stride] and sum l[i · stride]; one that saw no key (max -inf) counts for nothing.
struct Merged {
    float m, l;
};
__device__ __forceinline__ Merged merge_states(const float* m, const float* l, int n, int64_t stride) {
    Merged r{-INFINITY, 0.0f};
    for (int i = 0; i < n; i++) r.m = fmaxf(r.m, m[i * stride]);
    for (int i = 0; i < n; i++) r.l += m[i * stride] == -INFINITY ? 0.0f : l[i * stride] * expf(m[i * stride] - r.m);
    return r;
}
// One element of the merged unnormalised output: state i's at acc[i · acc_stride], rescaled to the merged max.
__device__ __forceinline__ float merge_acc(const float* m, int64_t stride, const float* acc, int64_t acc_stride,
                                           int n, float m_all) {
    float o = 0.0f;
    for (int i = 0; i < n; i++)
        if (m[i * stride] != -INFINITY) o += acc[i * acc_stride] * expf(m[i * stride] - m_all);
    return o;
}

template <class T>
__device__ void load_query(float (&q)[kMaxPerLane], const T* q_row, int64_t d_head, float scale) {
    const int lane = threadIdx.x % kWarp;
#pragma unroll
    for (int c = 0; c < kMaxPerLane; c++) {
        const int e = lane + c * kWarp;
        q[c] = e < d_head ? to_f32(q_row[e]) * scale : 0.0f;
    }
}

// Keys this token may see: positions 0..pos, never beyond its block table.
__device__ __forceinline__ int64_t n_visible(int32_t pos, const PagedAttentionShape& sh) {
    const int64_t n = int64_t(pos) + 1;
    return n < sh.max_blocks * sh.block_size ? n : sh.max_blocks * sh.block_size;
}

// grid (n_seqs, n_heads, sp.max), kDecodeWarps warps; dynamic smem: kDecodeWarps · (d_head + 2) floats.
// out, q: [n_tokens, d_row]; query_start: [n_seqs + 1]; positions: [n_tokens]; block_tables: [n_seqs, max_blocks].
// A token whose context is one range: block 0 writes out. Otherwise block z < n_ranges writes its range's
// partial of token t and head h to partials[(t · n_heads + h) · sp.max + z]: (m, l, unnormalised
// output[d_head]), d_head + 2 floats; blocks past n_ranges have nothing to do.
// G > 0: the vector path, a head of G 16-byte vectors (attend_vec); G == 0: attend.
template <class T, int G>
__global__ void decode_kernel(T* out, float* partials, const T* q, const T* k_cache, const T* v_cache,
                              const int32_t* query_start, const int32_t* positions, const int32_t* block_tables,
                              PagedAttentionShape sh, float scale, DecodeSplits sp) {
    extern __shared__ float smem[];
    float* s_m = smem;                    // [kDecodeWarps]
    float* s_l = s_m + kDecodeWarps;      // [kDecodeWarps]
    float* s_acc = s_l + kDecodeWarps;    // [kDecodeWarps, d_head]
    const int64_t s = blockIdx.x, head = int64_t(blockIdx.y) * sh.d_head, d_row = sh.n_heads * sh.d_head;
    const int64_t split = blockIdx.z;
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    const int32_t* table = block_tables + s * sh.max_blocks;
    // Normally one query; a sequence with several (a mixed batch that happens to have n_tokens == n_seqs) is
    // still right, one query after the other.
    for (int64_t t = query_start[s]; t < query_start[s + 1]; t++) {
        const int64_t n = n_visible(positions[t], sh), splits = n_ranges(n, sp);
        if (split >= splits) continue;  // uniform in the block
        // This block's tiles: [first, last) of the context's, the ranges differing by at most one tile (more
        // ranges than tiles leave some empty). Warp w takes the tiles first + w, first + w + kDecodeWarps, ...
        const int64_t tiles = ceil_div(n, kWarp);
        const int64_t first = tiles * split / splits, last = tiles * (split + 1) / splits;
        const int64_t end = last * kWarp < n ? last * kWarp : n;
        const int64_t j_begin = (first + warp) * kWarp, j_step = int64_t(kDecodeWarps) * kWarp;
        float w_m, w_l;
        if constexpr (G > 0) {
            constexpr int V = kVec<T>;
            const int c = lane % G;
            float qv[V];
#pragma unroll
            for (int e = 0; e < V; e++) qv[e] = to_f32(q[t * d_row + head + c * V + e]) * scale;
            VecSoftmax<T> st;
            attend_vec<T, G>(st, qv, k_cache, v_cache, table, j_begin, end, j_step, sh, head);
            w_m = st.m;
            w_l = st.l;
            if (lane < G)
#pragma unroll
                for (int e = 0; e < V; e++) s_acc[warp * sh.d_head + c * V + e] = st.acc[e];
        } else {
            float qv[kMaxPerLane];
            load_query(qv, q + t * d_row + head, sh.d_head, scale);
            Softmax st;
            attend(st, qv, k_cache, v_cache, table, j_begin, end, j_step, sh, head);
            w_m = st.m;
            w_l = st.l;
#pragma unroll
            for (int c = 0; c < kMaxPerLane; c++) {
                const int e = lane + c * kWarp;
                if (e < sh.d_head) s_acc[warp * sh.d_head + e] = st.acc[c];
            }
        }
        if (lane == 0) {
            s_m[warp] = w_m;
            s_l[warp] = w_l;
        }
        __syncthreads();
        const Merged mg = merge_states(s_m, s_l, kDecodeWarps, 1);
        float* part = splits == 1 ? nullptr
                                  : partials + ((t * sh.n_heads + blockIdx.y) * sp.max + split) * (sh.d_head + 2);
        if (part && threadIdx.x == 0) {
            part[0] = mg.m;
            part[1] = mg.l;
        }
        for (int64_t e = threadIdx.x; e < sh.d_head; e += blockDim.x) {
            const float o = merge_acc(s_m, 1, s_acc + e, sh.d_head, kDecodeWarps, mg.m);
            if (part) part[2 + e] = o;
            else out[t * d_row + head + e] = from_f32<T>(mg.l > 0.0f ? o / mg.l : 0.0f);
        }
        __syncthreads();  // smem is rewritten by the next query
    }
}

// grid (n_tokens, n_heads), kCombineThreads threads: out row t, head h from its n_ranges partials (decode_kernel).
// Rows outside [query_start[0], query_start[n_seqs]) have no partials and are left as they are, and a row of
// one range was written by decode_kernel.
template <class T>
__global__ void combine_splits_kernel(T* out, const float* partials, const int32_t* query_start,
                                      const int32_t* positions, PagedAttentionShape sh, DecodeSplits sp) {
    const int64_t t = blockIdx.x, d = sh.d_head;
    if (t < query_start[0] || t >= query_start[sh.n_seqs]) return;
    const int64_t splits = n_ranges(n_visible(positions[t], sh), sp);
    if (splits == 1) return;
    const float* part = partials + (t * sh.n_heads + blockIdx.y) * sp.max * (d + 2);
    const Merged mg = merge_states(part, part + 1, int(splits), d + 2);
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
        const float o = merge_acc(part, d + 2, part + 2 + e, d + 2, int(splits), mg.m);
        out[t * sh.n_heads * d + int64_t(blockIdx.y) * d + e] = from_f32<T>(mg.l > 0.0f ? o / mg.l : 0.0f);
    }
}

// grid (ceil(n_tokens / kPrefillWarps), n_heads), kPrefillWarps warps; shapes as decode_kernel.
template <class T>
__global__ void prefill_kernel(T* out, const T* q, const T* k_cache, const T* v_cache, const int32_t* query_start,
                               const int32_t* positions, const int32_t* block_tables, PagedAttentionShape sh,
                               float scale) {
    const int64_t t = int64_t(blockIdx.x) * kPrefillWarps + threadIdx.x / kWarp;
    if (t >= sh.n_tokens) return;
    // The token's sequence: the last s with query_start[s] <= t (binary search; empty sequences are skipped).
    int64_t lo = 0, hi = sh.n_seqs + 1;  // first index with query_start > t lies in [lo, hi]
    while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (query_start[mid] <= t) lo = mid + 1; else hi = mid;
    }
    const int64_t s = lo - 1;
    if (s < 0 || s >= sh.n_seqs) return;  // padding rows outside every sequence
    const int64_t head = int64_t(blockIdx.y) * sh.d_head, d_row = sh.n_heads * sh.d_head;
    float qv[kMaxPerLane];
    load_query(qv, q + t * d_row + head, sh.d_head, scale);
    Softmax st;
    attend(st, qv, k_cache, v_cache, block_tables + s * sh.max_blocks, 0, n_visible(positions[t], sh), kWarp, sh,
           head);
    const int lane = threadIdx.x % kWarp;
#pragma unroll
    for (int c = 0; c < kMaxPerLane; c++) {
        const int e = lane + c * kWarp;
        if (e < sh.d_head) out[t * d_row + head + e] = from_f32<T>(st.l > 0.0f ? st.acc[c] / st.l : 0.0f);
    }
}

// The tiled prefill's blocks: sequence by sequence, ceil(its queries / kTileQueries) each. At most this many.
int64_t max_query_tiles(int64_t n_tokens, int64_t n_seqs) { return ceil_div(n_tokens, kTileQueries) + n_seqs; }

// grid (max_query_tiles, n_heads), kTiledWarps warps; dynamic smem: (2 · kTileKeys · (d_head + 1) +
// kTileQueries · d_head) floats. Shapes as decode_kernel. A block past the last tile exits.
template <class T>
__global__ void prefill_tiled_kernel(T* out, const T* q, const T* k_cache, const T* v_cache,
                                     const int32_t* query_start, const int32_t* positions, const int32_t* block_tables,
                                     PagedAttentionShape sh, float scale) {
    extern __shared__ float smem[];
    const int64_t d = sh.d_head, stride = d + 1;  // a padded row: lane j reads row j without bank conflicts
    float* s_k = smem;                            // [kTileKeys, stride]
    float* s_v = s_k + kTileKeys * stride;        // [kTileKeys, stride]
    float* s_q = s_v + kTileKeys * stride;        // [kTileQueries, d], pre-scaled
    __shared__ int64_t s_tile[3];                 // this block's sequence (-1: none) and its query range
    __shared__ bool s_ok[kTileKeys];              // a staged key is readable (inside its sequence's table)
    if (threadIdx.x == 0) {
        int64_t b = blockIdx.x, seq = -1, t0 = 0, t1 = 0;
        for (int64_t s = 0; s < sh.n_seqs && seq < 0; s++) {
            const int64_t begin = query_start[s], len = query_start[s + 1] - begin;
            const int64_t tiles = len > 0 ? ceil_div(len, kTileQueries) : 0;
            if (b < tiles) {
                seq = s;
                t0 = begin + b * kTileQueries;
                t1 = t0 + kTileQueries < begin + len ? t0 + kTileQueries : begin + len;
            }
            b -= tiles;
        }
        s_tile[0] = seq;
        s_tile[1] = t0;
        s_tile[2] = t1;
    }
    __syncthreads();
    const int64_t seq = s_tile[0], t0 = s_tile[1], nq = s_tile[2] - s_tile[1];
    if (seq < 0) return;  // the whole block
    const int64_t head = int64_t(blockIdx.y) * d, d_row = sh.n_heads * d;
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    const int32_t* table = block_tables + seq * sh.max_blocks;
    for (int64_t i = threadIdx.x; i < nq * d; i += blockDim.x)
        s_q[i] = to_f32(q[(t0 + i / d) * d_row + head + i % d]) * scale;
    // This warp's queries are warp, warp + kTiledWarps, ...; the tile's keys are those its last query sees.
    constexpr int kMine = kTileQueries / kTiledWarps;
    int64_t visible[kMine];
    float m[kMine], l[kMine], acc[kMine][kTiledPerLane];
    int64_t n_keys = 0;
#pragma unroll
    for (int i = 0; i < kMine; i++) {
        const int64_t qi = warp + i * kTiledWarps;
        visible[i] = qi < nq ? n_visible(positions[t0 + qi], sh) : 0;
        m[i] = -INFINITY;
        l[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < kTiledPerLane; c++) acc[i][c] = 0.0f;
    }
    for (int64_t i = 0; i < nq; i++) {
        const int64_t v = n_visible(positions[t0 + i], sh);
        n_keys = v > n_keys ? v : n_keys;
    }
    for (int64_t j0 = 0; j0 < n_keys; j0 += kTileKeys) {
        __syncthreads();  // the previous tile is consumed (and, the first time, s_q is written)
        for (int64_t i = threadIdx.x; i < kTileKeys * d; i += blockDim.x) {
            const int64_t r = i / d, e = i % d, slot = key_slot(table, j0 + r, n_keys, sh);
            const bool ok = slot >= 0;
            s_k[r * stride + e] = ok ? to_f32(k_cache[slot * d_row + head + e]) : 0.0f;
            s_v[r * stride + e] = ok ? to_f32(v_cache[slot * d_row + head + e]) : 0.0f;
            if (e == 0) s_ok[r] = ok;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < kMine; i++) {
            const int64_t qi = warp + i * kTiledWarps, j = j0 + lane;
            if (qi >= nq) break;  // the warp's remaining queries are past the tile's: uniform in the warp
            float s = -INFINITY;
            if (j < visible[i] && s_ok[lane]) {
                const float* qr = s_q + qi * d;
                const float* kr = s_k + lane * stride;
                float dot = 0.0f;
                for (int64_t e = 0; e < d; e++) dot += qr[e] * kr[e];
                s = dot;
            }
            float p;
            if (!softmax_tile(m[i], l[i], acc[i], s, p)) continue;  // this query sees none of these keys
            for (int jj = 0; jj < kTileKeys; jj++) {
                const float pj = __shfl_sync(0xffffffffu, p, jj);
                const float* vr = s_v + jj * stride;
#pragma unroll
                for (int c = 0; c < kTiledPerLane; c++) {
                    const int64_t e = lane + c * kWarp;
                    if (e < d) acc[i][c] += pj * vr[e];
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < kMine; i++) {
        const int64_t qi = warp + i * kTiledWarps;
        if (qi >= nq) break;
#pragma unroll
        for (int c = 0; c < kTiledPerLane; c++) {
            const int64_t e = lane + c * kWarp;
            if (e < d) out[(t0 + qi) * d_row + head + e] = from_f32<T>(l[i] > 0.0f ? acc[i][c] / l[i] : 0.0f);
        }
    }
}

}  // namespace

void write_kv(void* k_cache, void* v_cache, const void* k, const void* v, const int32_t* slot_mapping, DType dtype,
              int64_t n_tokens, int64_t d_row, int64_t n_slots, cudaStream_t stream) {
    if (n_tokens == 0 || d_row == 0) return;
    const unsigned grid = unsigned(n_tokens < 65535 ? n_tokens : 65535);
    dispatch_float(dtype, "write_kv", [&](auto tag) {
        using T = typename decltype(tag)::type;
        write_kv_kernel<T><<<grid, 256, 0, stream>>>(static_cast<T*>(k_cache), static_cast<T*>(v_cache),
                                                     static_cast<const T*>(k), static_cast<const T*>(v), slot_mapping,
                                                     n_tokens, d_row, n_slots);
    });
    LAUNCH_CHECK();
}

int decode_vectors(int64_t d_head, int elem_bytes, const void* k_cache, const void* v_cache) {
    const int64_t bytes = d_head * elem_bytes;
    if (bytes % 16 != 0 || reinterpret_cast<uintptr_t>(k_cache) % 16 != 0 ||
        reinterpret_cast<uintptr_t>(v_cache) % 16 != 0)
        return 0;
    const int64_t g = bytes / 16;
    return g <= kWarp && (g & (g - 1)) == 0 ? int(g) : 0;
}

DecodeSplits decode_splits(const PagedAttentionShape& shape, int n_sm, int forced) {
    if (shape.n_tokens != shape.n_seqs || shape.n_seqs <= 0 || shape.n_heads <= 0) return {};
    if (forced > 0) return {forced, 1};
    // Enough blocks for two per SM; no more ranges than the longest context the tables can hold has kSplitKeys
    // (so an eager step of short contexts launches no combine kernel; a graph's tables are as wide as
    // --max-model-len allows, and n_ranges cuts each context by its own length).
    const int64_t by_sms = ceil_div(2 * int64_t(n_sm), shape.n_seqs * shape.n_heads);
    const int64_t by_keys = ceil_div(shape.max_blocks * shape.block_size, kSplitKeys);
    const int64_t splits = by_sms < by_keys ? by_sms : by_keys;
    return {int(splits < 1 ? 1 : splits > kMaxDecodeSplits ? kMaxDecodeSplits : splits), kSplitKeys};
}

int64_t decode_partials_floats(const PagedAttentionShape& shape, int max_splits) {
    return max_splits > 1 ? shape.n_tokens * shape.n_heads * max_splits * (shape.d_head + 2) : 0;
}

void paged_attention(void* out, const void* q, const void* k_cache, const void* v_cache, const int32_t* query_start,
                     const int32_t* positions, const int32_t* block_tables, DType dtype,
                     const PagedAttentionShape& shape, float scale, DecodeSplits splits, float* partials,
                     cudaStream_t stream) {
    if (shape.n_tokens == 0 || shape.n_seqs == 0) return;
    ENSURE(shape.d_head > 0 && shape.d_head <= kMaxDHead, "kernels::paged_attention: d_head ", shape.d_head,
           " (supported: 1..", kMaxDHead, ")");
    ENSURE(shape.block_size > 0 && shape.max_blocks > 0, "kernels::paged_attention: block size ", shape.block_size,
           ", ", shape.max_blocks, " blocks per sequence");
    ENSURE(shape.n_heads > 0 && shape.n_heads <= 65535, "kernels::paged_attention: ", shape.n_heads, " heads");
    const bool decode = shape.n_tokens == shape.n_seqs;
    ENSURE(splits.max >= 1 && splits.max <= kMaxDecodeSplits && splits.min_keys >= 1 &&
               (splits.max == 1 || (decode && partials)),
           "kernels::paged_attention: ", splits.max, " splits of at least ", splits.min_keys, " keys (1..",
           kMaxDecodeSplits, " splits of at least 1 key, more than 1 only for a decode batch, with partials)");
    dispatch_float(dtype, "paged_attention", [&](auto tag) {
        using T = typename decltype(tag)::type;
        auto* o = static_cast<T*>(out);
        auto* qt = static_cast<const T*>(q);
        auto* kc = static_cast<const T*>(k_cache);
        auto* vc = static_cast<const T*>(v_cache);
        if (decode) {
            const dim3 grid(unsigned(shape.n_seqs), unsigned(shape.n_heads), unsigned(splits.max));
            const size_t smem = size_t(kDecodeWarps) * size_t(shape.d_head + 2) * sizeof(float);
            const auto launch = [&](auto kernel) {
                kernel<<<grid, kDecodeWarps * kWarp, smem, stream>>>(o, partials, qt, kc, vc, query_start, positions,
                                                                      block_tables, shape, scale, splits);
            };
            switch (decode_vectors(shape.d_head, int(sizeof(T)), k_cache, v_cache)) {
                case 1: launch(decode_kernel<T, 1>); break;
                case 2: launch(decode_kernel<T, 2>); break;
                case 4: launch(decode_kernel<T, 4>); break;
                case 8: launch(decode_kernel<T, 8>); break;
                case 16: launch(decode_kernel<T, 16>); break;
                case 32: launch(decode_kernel<T, 32>); break;
                default: launch(decode_kernel<T, 0>);
            }
            if (splits.max > 1) {
                LAUNCH_CHECK();
                const dim3 rows(unsigned(shape.n_tokens), unsigned(shape.n_heads));
                combine_splits_kernel<T><<<rows, kCombineThreads, 0, stream>>>(o, partials, query_start, positions,
                                                                               shape, splits);
            }
        } else if (shape.d_head <= kTiledMaxDHead) {
            const dim3 grid(unsigned(max_query_tiles(shape.n_tokens, shape.n_seqs)), unsigned(shape.n_heads));
            const size_t smem = (size_t(2 * kTileKeys) * size_t(shape.d_head + 1) +
                                 size_t(kTileQueries) * size_t(shape.d_head)) * sizeof(float);
            prefill_tiled_kernel<T><<<grid, kTiledWarps * kWarp, smem, stream>>>(o, qt, kc, vc, query_start,
                                                                                 positions, block_tables, shape, scale);
        } else {
            const dim3 grid(unsigned(ceil_div(shape.n_tokens, kPrefillWarps)), unsigned(shape.n_heads));
            prefill_kernel<T><<<grid, kPrefillWarps * kWarp, 0, stream>>>(o, qt, kc, vc, query_start, positions,
                                                                          block_tables, shape, scale);
        }
    });
    LAUNCH_CHECK();
}

}  // namespace ls::kernels
