#include "engine/block_manager.h"

#include "core/check.h"

namespace ls {

BlockManager::BlockManager(int n_blocks, int block_size) : n_blocks_(n_blocks), block_size_(block_size) {
    ENSURE(n_blocks >= 1 && block_size >= 1, "KV cache needs at least one block of one token");
    for (int b = n_blocks - 1; b >= 0; b--) free_.push_back(b);
}

bool BlockManager::can_grow(const Sequence& s, int n_tokens) const {
    return blocks_for(n_tokens) - int(s.block_table.size()) <= n_free();
}

void BlockManager::grow(Sequence& s, int n_tokens) {
    ENSURE(can_grow(s, n_tokens), "block manager: sequence ", s.id, " needs more blocks than are free");
    while (int(s.block_table.size()) < blocks_for(n_tokens)) {
        s.block_table.push_back(free_.back());
        free_.pop_back();
    }
}

void BlockManager::release(Sequence& s) {
    for (auto it = s.block_table.rbegin(); it != s.block_table.rend(); ++it) free_.push_back(*it);
    s.block_table.clear();
}

int BlockManager::slot(const Sequence& s, int position) const {
    return s.block_table[size_t(position / block_size_)] * block_size_ + position % block_size_;
}

}  // namespace ls
