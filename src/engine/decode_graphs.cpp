#include "engine/decode_graphs.h"

#include <algorithm>
#include <chrono>

namespace ls {

std::vector<int> graph_batch_sizes(int max_num_seqs, int max_capture_size) {
    std::vector<int> sizes;
    const int top = std::min(max_num_seqs, max_capture_size);
    for (int b : {1, 2, 4})
        if (b <= top) sizes.push_back(b);
    for (int b = 8; b <= top; b += 8) sizes.push_back(b);
    if (sizes.empty() || sizes.back() < top) sizes.push_back(top);
    return sizes;
}

int64_t decode_graph_input_bytes(const Backend& be, const DecodeGraphsConfig& c) {
    const int largest = graph_batch_sizes(c.max_num_seqs, c.max_capture_size).back();
    return be.alloc_bytes(padded_step_elements(largest, c.max_blocks) * 4);
}

namespace {
Communicator::Stats minus(const Communicator::Stats& a, const Communicator::Stats& b) {
    Communicator::Stats d{};
    for (size_t k = 0; k < d.size(); k++) {
        d[k].calls = a[k].calls - b[k].calls;
        d[k].bytes = a[k].bytes - b[k].bytes;
    }
    return d;
}
}  // namespace

DecodeGraphs::DecodeGraphs(Backend& be, OptModel& model, KvCache& kv, Communicator& tp, const DecodeGraphsConfig& c)
    : be_(be), model_(model), kv_(kv), tp_(tp), c_(c) {
    if (!be.supports_graphs()) return;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int> sizes = graph_batch_sizes(c.max_num_seqs, c.max_capture_size);
    std::reverse(sizes.begin(), sizes.end());  // largest first: later captures fit in its buffers
    // The LM head's buffers too must never move after a capture: size them for the most rows any step samples.
    model.reserve_logit_rows(std::max(c.max_num_seqs, sizes.front()));
    for (int b : sizes) {
        StepPlan p;  // b one-token sequences whose K/V go nowhere: the shapes of a decode step of b
        p.max_blocks = c.max_blocks;
        p.query_start.push_back(0);
        for (int s = 0; s < b; s++) {
            p.seq_ids.push_back(s);
            p.token_ids.push_back(2);
            p.positions.push_back(0);
            p.slot_mapping.push_back(-1);
            p.query_start.push_back(s + 1);
            p.sample_rows.push_back(s);
        }
        p.block_tables.assign(size_t(b) * size_t(c.max_blocks), 0);
        upload_plan(be, p, c.block_size, dev_, {b, c.max_blocks});
        model.forward(dev_.inputs, kv);  // warm-up: cuBLAS picks its kernels and workspaces outside the capture
        be.synchronize();
        tp.sync_stats();
        const Communicator::Stats before = tp.all_stats();
        be.begin_capture();
        model.forward(dev_.inputs, kv);
        const int id = be.end_capture();
        graphs_[b] = {id, minus(tp.all_stats(), before)};
    }
    capture_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int DecodeGraphs::size_for(const StepPlan& p) const {
    if (graphs_.empty() || p.n_tokens() != p.n_seqs() || p.max_blocks > c_.max_blocks) return 0;
    if (int(p.sample_rows.size()) != p.n_seqs()) return 0;
    auto it = graphs_.lower_bound(p.n_seqs());
    return it == graphs_.end() ? 0 : it->first;
}

void DecodeGraphs::run(const StepPlan& p, int size) {
    const Graph& g = graphs_.at(size);
    upload_plan(be_, p, c_.block_size, dev_, {size, c_.max_blocks});
    be_.replay(g.id);
    model_.set_logit_rows(size);  // the graph ran the LM head on `size` rows
    tp_.add_replayed(g.collectives);
}

}  // namespace ls
