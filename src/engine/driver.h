// The driver's half of the loop (world rank 0 only): it decides each step's plan and, once the logits are
// back, samples, appends tokens and finishes sequences (EOS, --max-tokens, --max-model-len, --stop strings).
#pragma once
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
    Driver(const DriverConfig& cfg, const BpeTokenizer& tok, std::vector<Sequence>& requests, BlockManager& blocks);

    StepPlan schedule(int32_t step);  // a stop plan once every request has finished
    // logits: [plan.sample_rows.size(), n_vocab], in sample_rows order.
    void postprocess(const StepPlan& plan, const std::vector<float>& logits, int n_vocab);

    int64_t n_generated() const { return n_generated_; }
    int n_preemptions() const { return scheduler_.n_preemptions(); }

private:
    bool check_stop(Sequence& s);  // true when s has finished
    void finish(Sequence& s, const char* reason);

    DriverConfig cfg_;
    const BpeTokenizer& tok_;
    Scheduler scheduler_;
    int64_t n_generated_ = 0;
};

}  // namespace ls
