// This rank's paged K/V storage: for each layer one K and one V pool of n_blocks · block_size slots, each slot
// holding the rank's own heads ([n_heads_local · d_head] floats). Sequence s's position j lives in slot
// block_table[s][j / block_size] · block_size + j % block_size; the block tables come in the step plan.
#pragma once
#include <vector>

#include "backend/backend.h"

namespace ls {

struct KvCache {
    int n_blocks = 0, block_size = 0;
    std::vector<Buffer> k, v;  // per layer: [n_blocks · block_size, n_heads_local · d_head]

    int64_t bytes() const;
};

KvCache make_kv_cache(Backend& be, int n_layers, int n_blocks, int block_size, int64_t d_local);

// K and V bytes one token takes on this rank, over all layers.
int64_t kv_bytes_per_token(int n_layers, int64_t d_local, DType dtype);

}  // namespace ls
