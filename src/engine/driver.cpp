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
    if (!scheduler_.has_work() && !pending_.empty()) {
        // Idle until the next arrival; the other ranks wait for the plan without spinning meanwhile.
        const double wait = pending_.back()->arrival - now();
        if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
    for (const double t = now(); !pending_.empty() && pending_.back()->arrival <= t;) {
        scheduler_.add(pending_.back());
        pending_.pop_back();
    }
    if (!scheduler_.has_work()) {
        StepPlan stop;
        stop.step = step;
        stop.stop = true;
        return stop;
    }
    StepPlan plan = scheduler_.schedule(step);
    ENSURE(plan.n_tokens() > 0, "scheduler: no sequence fits in the KV cache (step ", step, ")");
    return plan;
}

void Driver::postprocess(const StepPlan& plan, const std::vector<float>& logits, int n_vocab) {
    size_t row = 0;
    // Copy: finishing a sequence changes the scheduler's running set, not this step's list.
    const std::vector<ScheduledSeq> done = scheduler_.scheduled();
    for (const auto& sc : done) {
        Sequence& s = *sc.seq;
        s.n_computed += sc.n_new_tokens;
        if (!sc.sampled) continue;
        ENSURE(row < plan.sample_rows.size(), "driver: more sampled sequences than logits rows");
        SampleResult r = sample(&logits[row * size_t(n_vocab)], n_vocab, s.sampling, s.rng);
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
