#include "model/kv_cache.h"

namespace ls {

int64_t KvCache::bytes() const {
    int64_t b = 0;
    for (size_t i = 0; i < k.size(); i++) b += int64_t(k[i].nbytes() + v[i].nbytes());
    return b;
}

KvCache make_kv_cache(Backend& be, int n_layers, int n_blocks, int block_size, int64_t d_local) {
    KvCache c;
    c.n_blocks = n_blocks;
    c.block_size = block_size;
    for (int l = 0; l < n_layers; l++) {
        c.k.push_back(be.alloc(be.compute_dtype(), {int64_t(n_blocks) * block_size, d_local}));
        c.v.push_back(be.alloc(be.compute_dtype(), {int64_t(n_blocks) * block_size, d_local}));
    }
    return c;
}

int64_t kv_bytes_per_token(int n_layers, int64_t d_local, DType dtype) {
    return 2 * int64_t(n_layers) * d_local * int64_t(dtype_size(dtype));
}

}  // namespace ls
