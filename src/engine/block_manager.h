// The driver's map of the paged KV cache: a pool of n_blocks blocks of block_size tokens, identical on every
// rank (each rank stores its own heads in its blocks). Sequences get blocks as they grow and give them all
// back when they finish or are preempted.
#pragma once
#include <vector>

#include "engine/sequence.h"

namespace ls {

class BlockManager {
public:
    BlockManager(int n_blocks, int block_size);

    int n_blocks() const { return n_blocks_; }
    int block_size() const { return block_size_; }
    int n_free() const { return int(free_.size()); }
    int blocks_for(int n_tokens) const { return (n_tokens + block_size_ - 1) / block_size_; }

    bool can_grow(const Sequence& s, int n_tokens) const;  // enough free blocks to hold n_tokens in s?
    void grow(Sequence& s, int n_tokens);                  // append blocks until s holds n_tokens
    void release(Sequence& s);                             // return all of s's blocks
    int slot(const Sequence& s, int position) const;       // slot of s's token at `position`

private:
    int n_blocks_, block_size_;
    std::vector<int> free_;  // a stack: the most recently freed block is reused first
};

}  // namespace ls
