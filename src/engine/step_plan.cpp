#include "engine/step_plan.h"

#include "core/check.h"

namespace ls {

namespace {
constexpr int32_t kMagic = 0x4c535450;  // "LSTP"
constexpr int kHeader = 9;
}  // namespace

std::vector<int32_t> StepPlan::pack() const {
    std::vector<int32_t> w = {kMagic,
                              step,
                              (stop ? 1 : 0) | (greedy ? 2 : 0),
                              int32_t(seq_ids.size()),
                              int32_t(token_ids.size()),
                              max_blocks,
                              int32_t(sample_rows.size()),
                              int32_t(block_tables.size()),
                              0};
    for (const auto* v : {&seq_ids, &query_start, &token_ids, &positions, &slot_mapping, &block_tables, &sample_rows})
        w.insert(w.end(), v->begin(), v->end());
    w[8] = int32_t(w.size());
    return w;
}

StepPlan StepPlan::unpack(const std::vector<int32_t>& w) {
    ENSURE(w.size() >= kHeader && w[0] == kMagic, "step plan: bad header (", w.size(), " words)");
    StepPlan p;
    p.step = w[1];
    ENSURE((w[2] & ~3) == 0, "step plan: bad flags ", w[2]);
    p.stop = (w[2] & 1) != 0;
    p.greedy = (w[2] & 2) != 0;
    const int32_t n_seqs = w[3], n_tokens = w[4], n_sample = w[6], n_table = w[7];
    p.max_blocks = w[5];
    ENSURE(n_seqs >= 0 && n_tokens >= 0 && n_sample >= 0 && n_table == n_seqs * p.max_blocks &&
               size_t(w[8]) == w.size() &&
               w.size() == size_t(kHeader) + n_seqs + (n_seqs + 1) * (n_seqs > 0) + 3 * size_t(n_tokens) + n_table +
                               n_sample,
           "step plan: inconsistent sizes in a message of ", w.size(), " words");
    size_t at = kHeader;
    auto take = [&](std::vector<int32_t>& v, size_t n) {
        v.assign(w.begin() + long(at), w.begin() + long(at + n));
        at += n;
    };
    take(p.seq_ids, size_t(n_seqs));
    take(p.query_start, n_seqs > 0 ? size_t(n_seqs) + 1 : 0);
    take(p.token_ids, size_t(n_tokens));
    take(p.positions, size_t(n_tokens));
    take(p.slot_mapping, size_t(n_tokens));
    take(p.block_tables, size_t(n_table));
    take(p.sample_rows, size_t(n_sample));
    return p;
}

}  // namespace ls
