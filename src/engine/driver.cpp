#include "engine/driver.h"

#include <algorithm>
#include <thread>

#include "core/check.h"

namespace ls {

Driver::Driver(const DriverConfig& cfg, const BpeTokenizer* tok, std::vector<Sequence>& requests,
               BlockManager& blocks)
    : cfg_(cfg), tok_(tok), scheduler_(cfg.scheduler, blocks) {
    for (auto& s : requests)
        if (s.finish_reason.empty()) pending_.push_back(&s);
    std::stable_sort(pending_.begin(), pending_.end(),
                     [](const Sequence* a, const Sequence* b) { return a->arrival > b->arrival; });
}

std::string Driver::decode(const std::vector<int32_t>& ids) const { return tok_ ? tok_->decode(ids) : std::string(); }

double Driver::now() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

StepPlan Driver::schedule(int32_t step) {
    if (!scheduler_.has_work() && !pending_.empty() && in_flight_.empty()) {
        // Idle until the next arrival; the other ranks wait for the plan without spinning meanwhile.
        const double wait = pending_.back()->arrival - now();
        if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
    for (const double t = now(); !pending_.empty() && pending_.back()->arrival <= t;) {
        scheduler_.add(pending_.back());
        pending_.pop_back();
    }
    if (!scheduler_.has_work() && in_flight_.empty() && pending_.empty()) {
        StepPlan stop;
        stop.step = step;
        stop.stop = true;
        return stop;
    }
    StepPlan plan;
    plan.step = step;
    const int cap = (scheduler_.n_unfinished() + cfg_.batches_in_flight - 1) / cfg_.batches_in_flight;
    if (scheduler_.has_schedulable()) plan = scheduler_.schedule(step, std::max(cap, 1));
    ENSURE(plan.n_tokens() > 0 || !in_flight_.empty() || !pending_.empty(),
           "scheduler: no sequence fits in the KV cache (step ", step, ")");
    if (plan.n_tokens() > 0) {
        // The device picks the tokens when no sampled sequence needs more than the argmax (vLLM samples on the
        // GPU too): the host then gets n_sample ids, not n_sample × n_vocab logits.
        const std::vector<ScheduledSeq>& seqs = scheduler_.scheduled();
        plan.greedy = !plan.sample_rows.empty() && std::all_of(seqs.begin(), seqs.end(), [](const ScheduledSeq& sc) {
            return !sc.sampled || (sc.seq->sampling.temperature == 0.0f && sc.seq->sampling.n_logprobs == 0);
        });
        in_flight_.push_back({int64_t(plan.sample_rows.size()), seqs, plan.greedy});
    }
    return plan;
}

int64_t Driver::oldest_n_sample() const { return in_flight_.empty() ? 0 : in_flight_.front().n_sample; }
bool Driver::oldest_greedy() const { return !in_flight_.empty() && in_flight_.front().greedy; }

void Driver::postprocess(const std::vector<float>& logits, const std::vector<int32_t>& ids, int n_vocab) {
    ENSURE(!in_flight_.empty(), "driver: logits with no plan in flight");
    const InFlight done = std::move(in_flight_.front());
    in_flight_.pop_front();
    size_t row = 0;
    for (const auto& sc : done.seqs) {
        Sequence& s = *sc.seq;
        s.in_flight = false;
        s.n_computed += sc.n_new_tokens;
        if (!sc.sampled) continue;
        ENSURE(int64_t(row) < done.n_sample, "driver: more sampled sequences than logits rows");
        SampleResult r;
        if (done.greedy) {
            ENSURE(row < ids.size() && ids[row] >= 0 && ids[row] < n_vocab, "driver: token id ",
                   row < ids.size() ? ids[row] : -1, " from the device for row ", row, " of ", ids.size());
            r.token = ids[row];
        } else {
            ENSURE((row + 1) * size_t(n_vocab) <= logits.size(), "driver: logits for ", logits.size() / size_t(n_vocab),
                   " rows, row ", row, " sampled");
            r = sample(&logits[row * size_t(n_vocab)], n_vocab, s.sampling, s.rng);
        }
        row++;
        s.output_ids.push_back(r.token);
        s.token_times.push_back(now());
        if (s.sampling.n_logprobs > 0) s.logprobs.push_back(std::move(r.top));
        n_generated_++;
        if (check_stop(s)) scheduler_.finish(&s);
    }
}

bool Driver::check_stop(Sequence& s) {
    const int32_t last = s.output_ids.back();
    if (last == cfg_.eos_id && !cfg_.ignore_eos) {
        // As vLLM: the EOS id stays in token_ids, its text is left out.
        std::vector<int32_t> ids(s.output_ids.begin(), s.output_ids.end() - 1);
        s.text = decode(ids);
        finish(s, "stop");
        return true;
    }
    if (!cfg_.stop.empty()) {
        s.text = decode(s.output_ids);
        for (const auto& stop : cfg_.stop) {
            const size_t at = s.text.find(stop);
            if (at != std::string::npos) {
                s.text.resize(at);
                finish(s, "stop");
                return true;
            }
        }
    }
    if (int(s.output_ids.size()) >= s.max_tokens || s.n_tokens() >= s.max_len) {
        s.text = decode(s.output_ids);
        finish(s, "length");
        return true;
    }
    return false;
}

void Driver::finish(Sequence& s, const char* reason) { s.finish_reason = reason; }

}  // namespace ls
