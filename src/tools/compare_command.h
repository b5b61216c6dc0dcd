// `lockstep compare A.json B.json`: where two --output-json runs of the same prompts (e.g. TP=1 and TP=2,
// greedy, --logprobs 5) first choose different tokens, and whether that is a near-tie or a bug.
//
// A TP group sums its partial products in another order than one rank does, so the logits differ in the last
// bits; greedy decoding then flips only where the top two candidates are within that noise (a margin of
// ~1e-5 in log-prob). A sharding bug moves the log-probs by far more, usually long before any token flips,
// so the chosen tokens' log-probs over the common prefix are compared as well.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ls {

// One request of an --output-json file, as the comparison needs it.
struct RunRequest {
    std::vector<int32_t> prompt_token_ids, token_ids;
    std::string finish_reason, error;
    bool has_logprobs = false;
    std::vector<std::vector<std::pair<int32_t, double>>> logprobs;  // [position][k] = (id, logprob)
};

struct CompareSettings {
    double near_tie = 1e-3;     // a flip is a near-tie when both runs' top-1 − top-2 margins are below this
    double logprob_tol = 1e-2;  // largest |logprob A − logprob B| of the chosen token tolerated before the flip
};

struct RequestDiff {
    enum class Verdict { Identical, NearTie, Diverges };
    Verdict verdict = Verdict::Identical;
    int first_diff = -1;                // first position whose tokens differ; -1: none
    int32_t token_a = -1, token_b = -1;  // the tokens chosen there (-1: that run had stopped)
    double margin_a = 0, margin_b = 0;  // top-1 − top-2 log-prob at first_diff, per run
    double prefix_drift = 0;            // largest |Δ logprob| of the chosen token before first_diff
    int drift_pos = -1;                 // where it is; -1: no position compared
    std::string why;                    // for Diverges: the reason, in words
};

struct Comparison {
    std::vector<RequestDiff> requests;
    int identical = 0, near_ties = 0, divergences = 0;
};

// Compares two runs request by request. names: the two files, for messages. Throws ls::Error when the runs
// cannot be compared (other request counts or prompts, log-probs missing where they are needed).
Comparison compare_runs(const std::vector<RunRequest>& a, const std::vector<RunRequest>& b,
                        const CompareSettings& s, const std::string& name_a = "A", const std::string& name_b = "B");

// Parses an --output-json document; name is the file, for messages. Throws ls::Error.
std::vector<RunRequest> parse_run(const std::string& text, const std::string& name);
std::vector<RunRequest> load_run(const std::string& path);

// argv[0] is "compare". Returns 0 when no request diverges, 1 when one does or on bad input, 2 on bad flags.
int compare_main(int argc, char** argv);

}  // namespace ls
