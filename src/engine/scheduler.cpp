#include "engine/scheduler.h"

#include <algorithm>

#include "core/check.h"

namespace ls {

Scheduler::Scheduler(SchedulerConfig cfg, BlockManager& blocks) : cfg_(cfg), blocks_(blocks) {}

bool Scheduler::add(Sequence* s) {
    const int need = blocks_.blocks_for(s->max_total_tokens());
    if (need > blocks_.n_blocks()) {
        s->status = SeqStatus::Finished;
        s->finish_reason = "error";
        s->error = cat("needs ", need, " KV blocks (", s->max_total_tokens(),
                       " tokens) but the whole cache has ", blocks_.n_blocks(), " blocks of ", blocks_.block_size(),
                       " tokens");
        return false;
    }
    s->status = SeqStatus::Waiting;
    waiting_.push_back(s);
    return true;
}

void Scheduler::preempt(Sequence* s) {
    blocks_.release(*s);
    s->n_computed = 0;  // recomputed from its prompt and output so far
    s->status = SeqStatus::Waiting;
    s->n_preemptions++;
    n_preemptions_++;
    running_.erase(std::find(running_.begin(), running_.end(), s));
    waiting_.push_front(s);
}

bool Scheduler::has_schedulable() const {
    if (!waiting_.empty()) return true;
    for (const Sequence* s : running_)
        if (!s->in_flight) return true;
    return false;
}

bool Scheduler::reserve(Sequence* s, int n_tokens) {
    while (!blocks_.can_grow(*s, n_tokens)) {
        // The newest sequence not in flight: one in flight is still being computed with its blocks.
        auto it = std::find_if(running_.rbegin(), running_.rend(), [](const Sequence* x) { return !x->in_flight; });
        if (it == running_.rend()) return false;
        Sequence* victim = *it;
        preempt(victim);
        if (victim == s) return false;
    }
    blocks_.grow(*s, n_tokens);
    return true;
}

StepPlan Scheduler::schedule(int32_t step, int seq_cap) {
    StepPlan plan;
    plan.step = step;
    scheduled_.clear();
    int budget = cfg_.max_num_batched_tokens;

    // Running sequences first, oldest first, so that the newest is the one preempted.
    for (size_t i = 0; i < running_.size() && budget > 0 && int(scheduled_.size()) < seq_cap;) {
        Sequence* s = running_[i];
        if (s->in_flight) {
            i++;
            continue;
        }
        const int n = std::min(s->n_tokens() - s->n_computed, budget);
        const size_t before = running_.size();
        if (!reserve(s, s->n_computed + n)) {
            if (running_.size() == before) i++;  // no room now, s stays running; else s itself was preempted
            continue;
        }
        scheduled_.push_back({s, n, s->n_computed + n == s->n_tokens()});
        budget -= n;
        i++;
    }
    // Then admit waiting sequences (preempted ones are at the front) while everything allows.
    while (!waiting_.empty() && budget > 0 && int(running_.size()) < cfg_.max_num_seqs &&
           int(scheduled_.size()) < seq_cap) {
        Sequence* s = waiting_.front();
        const int n = std::min(s->n_tokens() - s->n_computed, budget);
        if (!blocks_.can_grow(*s, s->n_computed + n)) break;
        waiting_.pop_front();
        blocks_.grow(*s, s->n_computed + n);
        s->status = SeqStatus::Running;
        running_.push_back(s);
        scheduled_.push_back({s, n, s->n_computed + n == s->n_tokens()});
        budget -= n;
    }

    for (const auto& sc : scheduled_) sc.seq->in_flight = true;
    for (const auto& sc : scheduled_) plan.max_blocks = std::max(plan.max_blocks, int32_t(sc.seq->block_table.size()));
    plan.query_start.push_back(0);
    for (const auto& sc : scheduled_) {
        const Sequence& s = *sc.seq;
        plan.seq_ids.push_back(s.id);
        for (int p = s.n_computed; p < s.n_computed + sc.n_new_tokens; p++) {
            plan.token_ids.push_back(s.token(p));
            plan.positions.push_back(p);
            plan.slot_mapping.push_back(blocks_.slot(s, p));
        }
        plan.query_start.push_back(int32_t(plan.token_ids.size()));
        if (sc.sampled) plan.sample_rows.push_back(int32_t(plan.token_ids.size()) - 1);
        std::vector<int32_t> row(size_t(plan.max_blocks), 0);
        std::copy(s.block_table.begin(), s.block_table.end(), row.begin());
        plan.block_tables.insert(plan.block_tables.end(), row.begin(), row.end());
    }
    if (scheduled_.empty()) plan.query_start.clear();
    return plan;
}

void Scheduler::finish(Sequence* s) {
    s->status = SeqStatus::Finished;
    blocks_.release(*s);
    running_.erase(std::find(running_.begin(), running_.end(), s));
}

}  // namespace ls
