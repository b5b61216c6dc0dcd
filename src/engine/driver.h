// The driver's half of the loop (world rank 0 only): it decides each step's plan and, once the logits are
// back, samples, appends tokens and finishes sequences (EOS, --max-tokens, --max-model-len, --stop strings).
#pragma once
#include <chrono>
#include <deque>
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
    int batches_in_flight = 1;  // pipeline: each plan takes about 1/this of the unfinished sequences
};

class Driver {
public:
    // tok may be null (synthetic requests): then no text is decoded.
    Driver(const DriverConfig& cfg, const BpeTokenizer* tok, std::vector<Sequence>& requests, BlockManager& blocks);

    // Admits the requests that have arrived (waiting, without spinning, when the next is in the future and
    // nothing is in flight) and plans the step; a stop plan once every request has finished. A plan with
    // tokens joins the in-flight queue; it is empty when every unfinished sequence is in flight.
    StepPlan schedule(int32_t step);
    int n_in_flight() const { return int(in_flight_.size()); }
    int64_t oldest_n_sample() const;  // rows of logits the oldest plan in flight waits for
    bool oldest_greedy() const;       // ... and whether it waits for token ids instead (StepPlan::greedy)
    // Applies the oldest plan in flight: logits [its n_sample, n_vocab], in sample_rows order; for a greedy
    // plan, the token ids [its n_sample] the last stage chose on its device instead.
    void postprocess(const std::vector<float>& logits, const std::vector<int32_t>& ids, int n_vocab);

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
    struct InFlight {
        int64_t n_sample;
        std::vector<ScheduledSeq> seqs;
        bool greedy;
    };
    std::deque<InFlight> in_flight_;  // oldest first
    std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
    int64_t n_generated_ = 0;
};

}  // namespace ls
