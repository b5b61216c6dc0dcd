// The CPU backend's paged attention, fp32. Two ways through a sequence, chosen by its query count:
// - a few queries (a decode step has one): each query reads its K and V rows straight from their blocks, one
//   pass over each, all heads of a row at once;
// - a prompt's queries: the context gathered once into contiguous K and V, and per head two OpenBLAS GEMMs
//   for each tile of 128 queries, scored against only the keys the tile's last query sees (OpenBLAS threads
//   them).
// The direct queries' heads are shared out over the backend's threads; a head is computed the same way on any
// of them, so the result does not depend on the thread count.
#pragma once
#include "backend/backend.h"
#include "backend/worker_pool.h"

namespace ls {

// Queries per sequence up to which the direct path is taken: a decode step's one, and a short chunk's few. A
// longer prompt is cheaper through the GEMMs, which read K and V once for a whole tile of queries.
constexpr int64_t kDirectQueries = 4;
// Multiply-adds of direct-path work below which the caller's thread does it all: waking a pool worker costs
// tens of µs. Above, one thread per kDirectWorkPerThread, up to the pool's size.
constexpr int64_t kDirectWorkPerThread = int64_t(1) << 20;

// out, q: [n_tokens, n_heads · d_head]; k_cache, v_cache: [n_slots, n_heads · d_head]. in: the sequences' query
// rows, positions and block tables. pool: the threads to share the direct queries' heads over.
void paged_attention_cpu(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                         const AttentionInputs& in, int n_heads, float scale, WorkerPool& pool);

}  // namespace ls
