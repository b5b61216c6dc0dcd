// Row lookups: the masked vocab-parallel embedding (also learned positions) and gather_rows (the last token of
// each sequence before the LM head). One block per output row; the row copy is coalesced.
#include "common.cuh"
#include "kernels.h"

namespace ls::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535;

// y: [n, d]; ids: [n]; table: [n_table_rows, d]. Blocks loop over rows so n may exceed the grid. Rows outside
// [row_begin, row_begin + n_table_rows) are zeros (another rank's vocabulary block).
template <class T>
__global__ void embedding_kernel(T* y, const int32_t* ids, const T* table, int64_t n, int64_t d, int64_t row_begin,
                                 int64_t n_table_rows) {
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const int64_t r = int64_t(ids[i]) - row_begin;
        T* yi = y + i * d;
        if (r >= 0 && r < n_table_rows) {
            const T* src = table + r * d;
            for (int64_t j = threadIdx.x; j < d; j += blockDim.x) yi[j] = src[j];
        } else {
            for (int64_t j = threadIdx.x; j < d; j += blockDim.x) yi[j] = from_f32<T>(0.0f);
        }
    }
}

unsigned row_grid(int64_t n) { return unsigned(n < kMaxGridY ? n : kMaxGridY); }

}  // namespace

void embedding(void* y, const int32_t* ids, const void* table, DType dtype, int64_t n, int64_t d, int64_t row_begin,
               int64_t n_table_rows, cudaStream_t stream) {
    if (n == 0 || d == 0) return;
    dispatch_float(dtype, "embedding", [&](auto tag) {
        using T = typename decltype(tag)::type;
        embedding_kernel<T><<<row_grid(n), kThreads, 0, stream>>>(static_cast<T*>(y), ids, static_cast<const T*>(table),
                                                                  n, d, row_begin, n_table_rows);
    });
    LAUNCH_CHECK();
}

// The same masked lookup with the rows as ids and no offset: out-of-range rows give zeros.
void gather_rows(void* y, const void* x, const int32_t* rows, DType dtype, int64_t n, int64_t d, int64_t n_x_rows,
                 cudaStream_t stream) {
    embedding(y, rows, x, dtype, n, d, 0, n_x_rows, stream);
}

}  // namespace ls::kernels
