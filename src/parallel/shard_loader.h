// Reads this rank's block of a checkpoint tensor into backend memory, counting the bytes it holds as sharded
// (split across the TP group) or replicated (the same on every rank): the figures of the start-up log.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "backend/backend.h"
#include "checkpoint/checkpoint.h"

namespace ls {

struct WeightBytes {
    int64_t sharded = 0;
    int64_t replicated = 0;
    int64_t total() const { return sharded + replicated; }
};

class ShardLoader {
public:
    ShardLoader(Backend& backend, const Checkpoint& ckpt) : backend_(backend), ckpt_(ckpt) {}

    // Rows [r0, r1) of a 2-D tensor → [n_rows_out, cols]; rows past r1 - r0 (vocab padding) stay zero.
    Buffer rows(const TensorInfo& t, int64_t r0, int64_t r1, int64_t n_rows_out, bool replicated);
    // Columns [c0, c1) of a 2-D tensor → [rows, c1 - c0].
    Buffer cols(const TensorInfo& t, int64_t c0, int64_t c1);
    // Elements [e0, e1) of a 1-D tensor.
    Buffer range(const TensorInfo& t, int64_t e0, int64_t e1, bool replicated);
    Buffer whole(const TensorInfo& t);  // replicated
    // [i0, i1) along dim 0 of each tensor (rows of 2-D ones, elements of 1-D ones), one block after another
    // → [ts.size() · (i1 - i0), cols or 1] (sharded): one rank's q, k and v blocks, stacked.
    Buffer stacked(const std::vector<const TensorInfo*>& ts, int64_t i0, int64_t i1);

    const WeightBytes& bytes() const { return bytes_; }

private:
    // A [rows, cols] block in the backend's weight dtype: fill writes every byte of it into host memory (not
    // zeroed first), then one copy to the backend.
    Buffer read_block(int64_t rows, int64_t cols, bool replicated, const std::function<void(uint8_t*)>& fill);
    Backend& backend_;
    const Checkpoint& ckpt_;
    WeightBytes bytes_;
};

}  // namespace ls
