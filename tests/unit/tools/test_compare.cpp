// lockstep compare: identical runs; a constructed near-tie; a large-margin flip; log-prob drift before any flip;
// runs that cannot be compared (other prompts, missing log-probs, bad files); the exit codes of compare_main.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "tools/compare_command.h"

using namespace ls;
namespace fs = std::filesystem;
using V = RequestDiff::Verdict;

namespace {

// A greedy run of n tokens: position k chooses 100 + k with log-prob -1 and the runner-up 200 + k at -3.
RunRequest greedy(int n) {
    RunRequest r;
    r.prompt_token_ids = {2, 31414, 6};
    r.finish_reason = "length";
    r.has_logprobs = true;
    for (int k = 0; k < n; k++) {
        r.token_ids.push_back(100 + k);
        r.logprobs.push_back({{100 + k, -1.0}, {200 + k, -3.0}, {300 + k, -4.0}});
    }
    return r;
}

// A and B of a near-tie at position p: both runs see 100+p and 200+p within `margin`, and pick differently.
void near_tie(RunRequest& a, RunRequest& b, int p, double margin) {
    a.logprobs[p] = {{100 + p, -0.69}, {200 + p, -0.69 - margin}, {300 + p, -4.0}};
    b.token_ids[p] = 200 + p;
    b.logprobs[p] = {{200 + p, -0.69 - 0.3 * margin}, {100 + p, -0.69 - 1.3 * margin}, {300 + p, -4.0}};
    for (size_t k = p + 1; k < b.token_ids.size(); k++) b.token_ids[k] = 900 + int(k);  // then anything
}

std::string error_of(const std::vector<RunRequest>& a, const std::vector<RunRequest>& b) {
    try {
        compare_runs(a, b, {}, "a.json", "b.json");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

struct TempDir {
    fs::path path;
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("lockstep_test_compare_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
        return (path / name).string();
    }
};

int run_main(std::vector<std::string> args) {
    args.insert(args.begin(), "compare");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return compare_main(int(argv.size()), argv.data());
}

const char* kRun =
    R"({"requests": [{"prompt": "Hi", "prompt_token_ids": [2, 5], "token_ids": [7, 8], "text": "x",
        "finish_reason": "length", "logprobs": [[{"id": 7, "logprob": -0.5}, {"id": 9, "logprob": -2.0}],
                                                [{"id": 8, "logprob": -0.1}, {"id": 3, "logprob": -4.0}]]}]})";

}  // namespace

TEST_CASE("identical runs: no flip, tiny drift, exit 0") {
    std::vector<RunRequest> a = {greedy(8), greedy(4)}, b = a;
    b[0].logprobs[5][0].second += 3e-6;
    const Comparison c = compare_runs(a, b, {});
    CHECK(c.identical == 2);
    CHECK(c.divergences == 0);
    CHECK(c.requests[0].first_diff == -1);
    CHECK(c.requests[0].drift_pos == 5);
    CHECK(c.requests[0].prefix_drift == doctest::Approx(3e-6));
}

TEST_CASE("a near-tie at position 3 (margins 2e-5 in both runs) is not a divergence") {
    std::vector<RunRequest> a = {greedy(8)}, b = a;
    near_tie(a[0], b[0], 3, 2e-5);
    const Comparison c = compare_runs(a, b, {});
    const RequestDiff& d = c.requests[0];
    CHECK(d.verdict == V::NearTie);
    CHECK(d.first_diff == 3);
    CHECK(d.token_a == 103);
    CHECK(d.token_b == 203);
    CHECK(d.margin_a == doctest::Approx(2e-5));
    CHECK(d.margin_b == doctest::Approx(2e-5));
    CHECK(c.near_ties == 1);
    CHECK(c.divergences == 0);
    // A tighter threshold turns the same flip into a divergence.
    CHECK(compare_runs(a, b, {1e-5, 1e-2}).requests[0].verdict == V::Diverges);
}

TEST_CASE("a flip with a large margin diverges") {
    std::vector<RunRequest> a = {greedy(8)}, b = a;
    b[0].token_ids[2] = 555;
    b[0].logprobs[2] = {{555, -0.2}, {102, -2.5}};
    const RequestDiff d = compare_runs(a, b, {}).requests[0];
    CHECK(d.verdict == V::Diverges);
    CHECK(d.first_diff == 2);
    CHECK(d.margin_a == doctest::Approx(2.0));
    CHECK(d.margin_b == doctest::Approx(2.3));
    CHECK(d.why.find("margin") != std::string::npos);
}

TEST_CASE("small margins on different candidate pairs are not a near-tie") {
    std::vector<RunRequest> a = {greedy(4)}, b = a;
    a[0].logprobs[1] = {{101, -0.7}, {201, -0.70001}};
    b[0].token_ids[1] = 555;
    b[0].logprobs[1] = {{555, -0.7}, {556, -0.70001}};
    const RequestDiff d = compare_runs(a, b, {}).requests[0];
    CHECK(d.verdict == V::Diverges);
    CHECK(d.why.find("same pair") != std::string::npos);
}

TEST_CASE("log-prob drift over the common prefix diverges even without a flip") {
    std::vector<RunRequest> a = {greedy(6)}, b = a;
    b[0].logprobs[4][0].second = -1.2;  // chosen token 104: 0.2 away
    const RequestDiff d = compare_runs(a, b, {}).requests[0];
    CHECK(d.verdict == V::Diverges);
    CHECK(d.first_diff == -1);
    CHECK(d.drift_pos == 4);
    CHECK(d.prefix_drift == doctest::Approx(0.2));
    // ... and a near-tie flip after such a drift is a divergence too.
    near_tie(a[0], b[0], 5, 2e-5);
    CHECK(compare_runs(a, b, {}).requests[0].verdict == V::Diverges);
    // Below --logprob-tol it is not.
    CHECK(compare_runs(a, b, {1e-3, 0.5}).requests[0].verdict == V::NearTie);
}

TEST_CASE("one run stopping earlier is a divergence, named") {
    std::vector<RunRequest> a = {greedy(6)}, b = {greedy(4)};
    b[0].finish_reason = "stop";
    const RequestDiff d = compare_runs(a, b, {}, "a.json", "b.json").requests[0];
    CHECK(d.verdict == V::Diverges);
    CHECK(d.first_diff == 4);
    CHECK(d.token_b == -1);
    CHECK(d.why.find("b.json stopped after 4 tokens") != std::string::npos);
}

TEST_CASE("runs that cannot be compared: prompts, counts, log-probs") {
    std::vector<RunRequest> a = {greedy(4), greedy(4)}, b = a;
    b[1].prompt_token_ids.push_back(7);
    CHECK(error_of(a, b).find("request 1: prompt_token_ids differ between a.json and b.json") != std::string::npos);
    CHECK(error_of(a, {greedy(4)}).find("a.json has 2 requests, b.json has 1") != std::string::npos);

    b = a;
    b[0].has_logprobs = false;
    b[0].logprobs.clear();
    CHECK(error_of(a, b).find("b.json: request 0 has no logprobs: run both with --logprobs 2 or more") !=
          std::string::npos);

    b = a;  // --logprobs 1: fine over an identical prefix, not enough for the margin at the flip
    for (auto* r : {&a[0], &b[0]})
        for (auto& pos : r->logprobs) pos.resize(1);
    b[0].token_ids[2] = 555;
    b[0].logprobs[2] = {{555, -0.5}};
    CHECK(error_of(a, b).find("a.json: request 0 has 1 log-prob entry at position 2, the margin needs 2: run both "
                              "with --logprobs 2 or more") != std::string::npos);
}

TEST_CASE("parse_run: the --output-json format and clear errors") {
    const std::vector<RunRequest> r = parse_run(kRun, "x.json");
    REQUIRE(r.size() == 1);
    CHECK(r[0].prompt_token_ids == std::vector<int32_t>{2, 5});
    CHECK(r[0].token_ids == std::vector<int32_t>{7, 8});
    REQUIRE(r[0].logprobs.size() == 2);
    CHECK(r[0].logprobs[1][1] == std::pair<int32_t, double>{3, -4.0});

    auto error = [](const std::string& text) {
        try {
            parse_run(text, "x.json");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(error("{\"requests\": [").find("x.json: malformed JSON") == 0);
    CHECK(error("{\"runs\": []}").find("x.json: no \"requests\" array") == 0);
    CHECK(error(R"({"requests": [{"prompt_token_ids": [1]}]})").find("x.json: request 0: no \"token_ids\"") == 0);
    const std::vector<RunRequest> no_lp =
        parse_run(R"({"requests": [{"prompt_token_ids": [1], "token_ids": [3], "logprobs": null}]})", "x.json");
    CHECK(!no_lp[0].has_logprobs);
}

TEST_CASE("compare_main: exit 0 for identical files, 1 for a divergence or a bad file, 2 for bad flags") {
    TempDir dir;
    const std::string a = dir.write("a.json", kRun);
    std::string flipped = kRun;
    flipped.replace(flipped.find("[7, 8]"), 6, "[9, 8]");
    flipped.replace(flipped.find("\"id\": 7"), 7, "\"id\": 1");
    const std::string b = dir.write("b.json", flipped);
    CHECK(run_main({a, a}) == 0);
    CHECK(run_main({a, a, "--json"}) == 0);
    CHECK(run_main({a, b}) == 1);
    CHECK(run_main({a, (dir.path / "missing.json").string()}) == 1);
    CHECK(run_main({a, dir.write("bad.json", "{")}) == 1);
    CHECK(run_main({a}) == 2);
    CHECK(run_main({a, a, "--frobnicate"}) == 2);
}
