#include "engine/device_step.h"

#include <algorithm>

namespace ls {

namespace {
// Appends v, cut or padded with `fill` to n entries, to h; returns where it starts.
size_t append(std::vector<int32_t>& h, const std::vector<int32_t>& v, size_t n, int32_t fill) {
    const size_t at = h.size();
    h.insert(h.end(), v.begin(), v.begin() + std::ptrdiff_t(std::min(n, v.size())));
    h.resize(at + n, fill);
    return at;
}

size_t append_iota(std::vector<int32_t>& h, size_t n) {  // 0, 1, ..., n - 1
    const size_t at = h.size();
    for (size_t i = 0; i < n; i++) h.push_back(int32_t(i));
    return at;
}

// Offsets of the arrays in DeviceStep::host.
struct Layout {
    size_t token_ids, positions, slot_mapping, query_start, block_tables, sample_rows;
};
}  // namespace

int64_t padded_step_elements(int64_t seqs, int64_t blocks) {
    // token_ids, positions, slot_mapping, sample_rows [seqs]; query_start [seqs + 1]; block_tables [seqs, blocks]
    return 4 * seqs + (seqs + 1) + seqs * blocks;
}

void upload_plan(Backend& be, const StepPlan& p, int block_size, DeviceStep& d, StepPadding pad) {
    std::vector<int32_t>& h = d.host;
    h.clear();
    Layout at{};
    int64_t n = p.n_tokens(), n_seqs = p.n_seqs(), n_sample = int64_t(p.sample_rows.size()), width = p.max_blocks;
    if (pad.seqs == 0) {
        at.token_ids = append(h, p.token_ids, size_t(n), 0);
        at.positions = append(h, p.positions, size_t(n), 0);
        at.slot_mapping = append(h, p.slot_mapping, size_t(n), -1);
        at.query_start = append(h, p.query_start, size_t(n_seqs + 1), 0);
        at.block_tables = append(h, p.block_tables, size_t(n_seqs * width), 0);
        at.sample_rows = append(h, p.sample_rows, size_t(n_sample), 0);
    } else {
        // Decode only: one token per sequence, so row i is sequence i, and every row is sampled.
        ENSURE(p.n_tokens() == p.n_seqs() && pad.seqs >= p.n_seqs() && pad.blocks >= p.max_blocks,
               "upload_plan: a graph for ", pad.seqs, " sequences cannot run a step of ", p.n_seqs(),
               " sequences and ", p.n_tokens(), " tokens");
        n = n_seqs = n_sample = pad.seqs;
        width = pad.blocks;
        at.token_ids = append(h, p.token_ids, size_t(n), 0);
        at.positions = append(h, p.positions, size_t(n), 0);
        at.slot_mapping = append(h, p.slot_mapping, size_t(n), -1);
        at.query_start = append_iota(h, size_t(n + 1));
        at.sample_rows = append_iota(h, size_t(n));
        at.block_tables = h.size();
        h.resize(h.size() + size_t(n * width), 0);
        for (int s = 0; s < p.n_seqs(); s++)
            std::copy_n(&p.block_tables[size_t(s) * size_t(p.max_blocks)], p.max_blocks,
                        &h[at.block_tables + size_t(s) * size_t(width)]);
    }
    const Tensor all = reuse_buffer(be, d.buffer, DType::I32, int64_t(h.size()), 1);
    if (!h.empty()) be.copy_from_host(all, h.data());
    auto i32 = [&](size_t offset, std::initializer_list<int64_t> shape) {
        return make_tensor(all.i32() + offset, DType::I32, shape);
    };
    // The block tables keep both dims even one column wide: a step whose sequences all fit in one block has
    // tables [n_seqs, 1], and the CUDA backend checks that they are 2-D.
    d.inputs = {i32(at.token_ids, {n}), i32(at.slot_mapping, {n}), i32(at.sample_rows, {n_sample}),
                {i32(at.query_start, {n_seqs + 1}), i32(at.positions, {n}), i32(at.block_tables, {n_seqs, width}),
                 block_size}};
}

}  // namespace ls
