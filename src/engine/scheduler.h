// The driver's continuous batching, in vLLM's manner: running sequences first (one decode token each, or the
// next chunk of a long prompt), then waiting ones while sequences, tokens and KV blocks allow. When blocks
// run out, the newest running sequence is preempted: its blocks are freed and it is recomputed later.
// With pipeline parallelism several plans are in flight at once; a sequence in one of them is skipped (and
// never preempted) until its logits are back, so the plans in flight hold disjoint sequences.
#pragma once
#include <deque>
#include <vector>

#include "engine/block_manager.h"
#include "engine/step_plan.h"

namespace ls {

struct SchedulerConfig {
    int max_num_seqs = 256;
    int max_num_batched_tokens = 2048;
};

// What the last plan did to each of its sequences, for the driver to apply after sampling.
struct ScheduledSeq {
    Sequence* seq;
    int n_new_tokens;  // tokens of this sequence computed in the step
    bool sampled;      // its last row is in sample_rows (the chunk reached the end of its known tokens)
};

class Scheduler {
public:
    Scheduler(SchedulerConfig cfg, BlockManager& blocks);

    // Queues a request. A request that could never fit in the whole cache is refused: it is finished with
    // finish_reason "error" and a message, and false is returned.
    bool add(Sequence* s);
    bool has_work() const { return !waiting_.empty() || !running_.empty(); }

    // Marks its sequences in flight; may be empty while others are. seq_cap bounds the plan's sequences (a
    // pipeline splits them over the plans in flight).
    StepPlan schedule(int32_t step, int seq_cap = 1 << 30);
    int n_unfinished() const { return int(waiting_.size() + running_.size()); }
    const std::vector<ScheduledSeq>& scheduled() const { return scheduled_; }
    bool has_schedulable() const;  // waiting, or running and not in flight
    // After sampling: a finished sequence leaves the running set and gives back its blocks.
    void finish(Sequence* s);

    int n_preemptions() const { return n_preemptions_; }

private:
    bool reserve(Sequence* s, int n_tokens);  // grows s, preempting the newest running sequences as needed
    void preempt(Sequence* s);

    SchedulerConfig cfg_;
    BlockManager& blocks_;
    std::deque<Sequence*> waiting_;
    std::vector<Sequence*> running_;  // in admission order: the back is the newest
    std::vector<ScheduledSeq> scheduled_;
    int n_preemptions_ = 0;
};

}  // namespace ls
