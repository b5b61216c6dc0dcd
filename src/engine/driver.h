// The driver's half of the loop (world rank 0 only): it decides each step's plan and, once the logits are
// back, samples, appends tokens and finishes sequences (EOS, --max-tokens, --max-model-len, --stop strings).
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "engine/scheduler.h"
#include "tokenizer/bpe_tokenizer.h"

namespace ls {

struct DriverConfig {
    SchedulerConfig scheduler;
    std::vector<std::string> stop;
    bool ignore_eos = false;
    int eos_id = 2;
};

class Driver {
public:
    // tok may be null (synthetic requests): then no text is decoded.
    Driver(const DriverConfig& cfg, const BpeTokenizer* tok, std::vector<Sequence>& requests, BlockManager& blocks);

    // Admits the requests that have arrived (waiting, without spinning, when the next is in the future) and
    // plans the step; a stop plan once every request has finished.
    StepPlan schedule(int32_t step);
    // logits: [plan.sample_rows.size(), n_vocab], in sample_rows order.
    void postprocess(const StepPlan& plan, const std::vector<float>& logits, int n_vocab);

    int64_t n_generated() const { return n_generated_; }
    int n_preemptions() const { return scheduler_.n_preemptions(); }

private:
    bool check_stop(Sequence& s);  // true when s has finished
    void finish(Sequence& s, const char* reason);

    double now() const;

    DriverConfig cfg_;
    std::string decode(const std::vector<int32_t>& ids) const;

    const BpeTokenizer* tok_;
    Scheduler scheduler_;
    std::vector<Sequence*> pending_;  // not yet arrived, latest first
    std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
    int64_t n_generated_ = 0;
};

}  // namespace ls
