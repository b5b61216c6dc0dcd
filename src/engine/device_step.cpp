#include "engine/device_step.h"

namespace ls {

namespace {
Buffer upload(Backend& be, const std::vector<int32_t>& v, std::initializer_list<int64_t> shape) {
    Buffer b = be.alloc(DType::I32, shape);
    if (!v.empty()) be.copy_from_host(b, v.data());
    return b;
}
}  // namespace

void upload_plan(Backend& be, const StepPlan& p, int block_size, DeviceStep& d) {
    const int64_t n = p.n_tokens(), n_seqs = p.n_seqs();
    d.token_ids = upload(be, p.token_ids, {n});
    d.positions = upload(be, p.positions, {n});
    d.slot_mapping = upload(be, p.slot_mapping, {n});
    d.query_start = upload(be, p.query_start, {n_seqs + 1});
    d.block_tables = upload(be, p.block_tables, {n_seqs, p.max_blocks});
    d.sample_rows = upload(be, p.sample_rows, {int64_t(p.sample_rows.size())});
    d.inputs = {d.token_ids, d.slot_mapping, d.sample_rows, {d.query_start, d.positions, d.block_tables, block_size}};
}

}  // namespace ls
