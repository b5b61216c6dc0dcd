#include "engine/device_step.h"

#include <algorithm>

namespace ls {

namespace {
// cols < 0: a vector [rows]. A matrix keeps both dims even one column wide: a step whose sequences all fit in
// one block has block tables [n_seqs, 1], and the CUDA backend checks that they are 2-D.
Tensor upload(Backend& be, Buffer& b, const std::vector<int32_t>& v, int64_t rows, int64_t cols = -1) {
    const Tensor t = reuse_buffer(be, b, DType::I32, rows, cols < 0 ? 1 : cols);
    if (!v.empty()) be.copy_from_host(t, v.data());
    return cols < 0 ? make_tensor(t.data, DType::I32, {rows}) : t;
}

// v padded with `fill` up to n entries.
const std::vector<int32_t>& padded(std::vector<int32_t>& out, const std::vector<int32_t>& v, size_t n, int32_t fill) {
    out.assign(v.begin(), v.end());
    out.resize(std::max(n, v.size()), fill);
    return out;
}
}  // namespace

void upload_plan(Backend& be, const StepPlan& p, int block_size, DeviceStep& d, StepPadding pad) {
    if (pad.seqs == 0) {
        const int64_t n = p.n_tokens(), n_seqs = p.n_seqs();
        const Tensor token_ids = upload(be, d.token_ids, p.token_ids, n);
        const Tensor positions = upload(be, d.positions, p.positions, n);
        const Tensor slots = upload(be, d.slot_mapping, p.slot_mapping, n);
        const Tensor query_start = upload(be, d.query_start, p.query_start, n_seqs + 1);
        const Tensor tables = upload(be, d.block_tables, p.block_tables, n_seqs, p.max_blocks);
        const Tensor sample = upload(be, d.sample_rows, p.sample_rows, int64_t(p.sample_rows.size()));
        d.inputs = {token_ids, slots, sample, {query_start, positions, tables, block_size}};
        return;
    }
    // Decode only: one token per sequence, so row i is sequence i, and every row is sampled.
    ENSURE(p.n_tokens() == p.n_seqs() && pad.seqs >= p.n_seqs() && pad.blocks >= p.max_blocks,
           "upload_plan: a graph for ", pad.seqs, " sequences cannot run a step of ", p.n_seqs(), " sequences and ",
           p.n_tokens(), " tokens");
    const int64_t n = pad.seqs;
    std::vector<int32_t>& h = d.host;
    const Tensor token_ids = upload(be, d.token_ids, padded(h, p.token_ids, size_t(n), 0), n);
    const Tensor positions = upload(be, d.positions, padded(h, p.positions, size_t(n), 0), n);
    const Tensor slots = upload(be, d.slot_mapping, padded(h, p.slot_mapping, size_t(n), -1), n);
    h.resize(size_t(n + 1));
    for (int64_t i = 0; i <= n; i++) h[size_t(i)] = int32_t(i);
    const Tensor query_start = upload(be, d.query_start, h, n + 1);
    h.resize(size_t(n));  // 0 .. n-1: every row is sampled
    const Tensor sample = upload(be, d.sample_rows, h, n);
    h.assign(size_t(n * pad.blocks), 0);
    for (int s = 0; s < p.n_seqs(); s++)
        std::copy_n(&p.block_tables[size_t(s) * size_t(p.max_blocks)], p.max_blocks, &h[size_t(s) * size_t(pad.blocks)]);
    const Tensor tables = upload(be, d.block_tables, h, n, pad.blocks);
    d.inputs = {token_ids, slots, sample, {query_start, positions, tables, block_size}};
}

}  // namespace ls
