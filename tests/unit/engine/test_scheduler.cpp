#include <doctest/doctest.h>

#include <set>

#include "engine/scheduler.h"

using namespace ls;

namespace {
Sequence make_seq(int id, int prompt_len, int max_tokens, int max_len = 1000) {
    Sequence s;
    s.id = id;
    for (int i = 0; i < prompt_len; i++) s.prompt_ids.push_back(100 + i);
    s.max_tokens = max_tokens;
    s.max_len = max_len;
    return s;
}
// Plays the driver: applies a step as if every sampled sequence got token 7, finishing at max_tokens.
void apply(Scheduler& sch, std::vector<Sequence*>& finished) {
    const auto done = sch.scheduled();
    for (const auto& sc : done) {
        sc.seq->in_flight = false;
        sc.seq->n_computed += sc.n_new_tokens;
        if (!sc.sampled) continue;
        sc.seq->output_ids.push_back(7);
        if (int(sc.seq->output_ids.size()) >= sc.seq->max_tokens) {
            sch.finish(sc.seq);
            finished.push_back(sc.seq);
        }
    }
}
}  // namespace

TEST_CASE("scheduler: prefill then decode, slots follow the block table") {
    BlockManager bm(8, 4);
    Scheduler sch({4, 64}, bm);
    Sequence a = make_seq(0, 6, 3);
    REQUIRE(sch.add(&a));
    StepPlan p = sch.schedule(0);
    CHECK(p.n_tokens() == 6);
    CHECK(p.query_start == std::vector<int32_t>{0, 6});
    CHECK(p.sample_rows == std::vector<int32_t>{5});
    CHECK(a.block_table.size() == 2);
    for (int i = 0; i < 6; i++) CHECK(p.slot_mapping[size_t(i)] == a.block_table[size_t(i / 4)] * 4 + i % 4);
    std::vector<Sequence*> fin;
    apply(sch, fin);
    p = sch.schedule(1);
    CHECK(p.n_tokens() == 1);
    CHECK(p.positions == std::vector<int32_t>{6});
    CHECK(p.token_ids == std::vector<int32_t>{7});
}

TEST_CASE("scheduler: chunked prefill under the token budget samples only at the end") {
    BlockManager bm(16, 4);
    Scheduler sch({4, 5}, bm);
    Sequence a = make_seq(0, 12, 1);
    sch.add(&a);
    std::vector<Sequence*> fin;
    std::vector<int> chunks;
    for (int step = 0; sch.has_work(); step++) {
        StepPlan p = sch.schedule(step);
        chunks.push_back(p.n_tokens());
        CHECK(p.sample_rows.size() == (a.n_computed + p.n_tokens() == 12 ? 1u : 0u));
        apply(sch, fin);
    }
    CHECK(chunks == std::vector<int>{5, 5, 2});
    CHECK(bm.n_free() == 16);
}

TEST_CASE("scheduler: preemption when blocks run out, every request still completes") {
    BlockManager bm(6, 2);  // 12 token slots for 3 requests of up to 8 tokens each
    Scheduler sch({8, 64}, bm);
    std::vector<Sequence> seqs;
    for (int i = 0; i < 3; i++) seqs.push_back(make_seq(i, 3, 5));
    for (auto& s : seqs) REQUIRE(sch.add(&s));
    std::vector<Sequence*> fin;
    for (int step = 0; sch.has_work() && step < 200; step++) {
        StepPlan p = sch.schedule(step);
        REQUIRE(p.n_tokens() > 0);
        // No two tokens of one step may write the same slot.
        std::set<int32_t> slots(p.slot_mapping.begin(), p.slot_mapping.end());
        CHECK(slots.size() == p.slot_mapping.size());
        apply(sch, fin);
    }
    CHECK(fin.size() == 3);
    CHECK(sch.n_preemptions() > 0);
    CHECK(bm.n_free() == 6);
    for (auto& s : seqs) CHECK(s.output_ids.size() == 5);
}

TEST_CASE("scheduler: a request larger than the whole cache is refused with a message") {
    BlockManager bm(2, 4);
    Scheduler sch({4, 64}, bm);
    Sequence big = make_seq(0, 10, 4);
    CHECK_FALSE(sch.add(&big));
    CHECK(big.finish_reason == "error");
    CHECK(big.error.find("needs 4 KV blocks") != std::string::npos);
    CHECK_FALSE(sch.has_work());
}

TEST_CASE("scheduler: --max-num-seqs caps the running set") {
    BlockManager bm(64, 4);
    Scheduler sch({2, 64}, bm);
    std::vector<Sequence> seqs;
    for (int i = 0; i < 5; i++) seqs.push_back(make_seq(i, 2, 3));
    for (auto& s : seqs) sch.add(&s);
    StepPlan p = sch.schedule(0);
    CHECK(p.n_seqs() == 2);
}

TEST_CASE("scheduler: plans in flight hold disjoint sequences (pipeline parallelism)") {
    BlockManager bm(64, 4);
    Scheduler sch({8, 64}, bm);
    std::vector<Sequence> seqs;
    for (int i = 0; i < 4; i++) seqs.push_back(make_seq(i, 3, 4));
    for (auto& s : seqs) sch.add(&s);
    StepPlan a = sch.schedule(0, 2);  // two sequences in the first plan
    CHECK(a.seq_ids == std::vector<int32_t>{0, 1});
    StepPlan b = sch.schedule(1, 2);  // the other two, while the first plan is in flight
    CHECK(b.seq_ids == std::vector<int32_t>{2, 3});
    CHECK_FALSE(sch.has_schedulable());
    StepPlan c = sch.schedule(2, 2);
    CHECK(c.n_tokens() == 0);  // everything is in flight
    seqs[0].in_flight = seqs[1].in_flight = false;  // the first plan's logits are back
    seqs[0].n_computed = seqs[1].n_computed = 3;
    seqs[0].output_ids = seqs[1].output_ids = {7};
    StepPlan d = sch.schedule(3, 2);
    CHECK(d.seq_ids == std::vector<int32_t>{0, 1});
    CHECK(d.positions == std::vector<int32_t>{3, 3});
}
