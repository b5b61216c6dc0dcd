// `lockstep compare`: two --output-json files → per request the first flip, both runs' margins there and the
// log-prob drift before it → a verdict. The comparison itself (compare_runs) is pure, for the unit tests.
#include "tools/compare_command.h"
#include "tools/cli_flags.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"

namespace ls {
namespace {

namespace po = boost::program_options;
using json = nlohmann::json;

const char* kNeedLogprobs = "run both with --logprobs 2 or more";

// Top-1 − top-2 log-prob of one position's list, and its two best ids. Throws when fewer than 2 entries.
struct TopTwo {
    int32_t first = -1, second = -1;
    double margin = 0;
};

TopTwo top_two(const std::vector<std::pair<int32_t, double>>& pos, const std::string& name, size_t req, int p) {
    TopTwo t;
    double l1 = -INFINITY, l2 = -INFINITY;
    for (const auto& [id, lp] : pos) {
        if (id == t.first || id == t.second) continue;
        if (t.first < 0 || lp > l1) {
            t.second = t.first, l2 = l1;
            t.first = id, l1 = lp;
        } else if (t.second < 0 || lp > l2) {
            t.second = id, l2 = lp;
        }
    }
    ENSURE(t.second >= 0, name, ": request ", req, " has ", pos.size(), " log-prob entr", pos.size() == 1 ? "y" : "ies",
           " at position ", p, ", the margin needs 2: ", kNeedLogprobs);
    t.margin = l1 - l2;
    return t;
}

const std::vector<std::pair<int32_t, double>>& logprobs_at(const RunRequest& r, const std::string& name, size_t req,
                                                           int p) {
    ENSURE(r.has_logprobs, name, ": request ", req, " has no logprobs: ", kNeedLogprobs);
    ENSURE(p < int(r.logprobs.size()), name, ": request ", req, " has logprobs for ", r.logprobs.size(),
           " positions, ", p + 1, " needed: ", kNeedLogprobs);
    return r.logprobs[size_t(p)];
}

bool find_logprob(const std::vector<std::pair<int32_t, double>>& pos, int32_t id, double& lp) {
    for (const auto& e : pos)
        if (e.first == id) return lp = e.second, true;
    return false;  // sampled outside the top-K: that position says nothing
}

RequestDiff compare_request(const RunRequest& a, const RunRequest& b, const CompareSettings& s, const std::string& na,
                            const std::string& nb, size_t i) {
    ENSURE(a.prompt_token_ids == b.prompt_token_ids, "request ", i, ": prompt_token_ids differ between ", na, " and ",
           nb, " (", a.prompt_token_ids.size(), " vs ", b.prompt_token_ids.size(),
           " tokens): not runs of the same prompts in the same order");
    RequestDiff d;
    using V = RequestDiff::Verdict;
    if (a.error != b.error) {
        d.verdict = V::Diverges;
        d.why = cat("errors differ: \"", a.error, "\" vs \"", b.error, "\"");
        return d;
    }
    const size_t common = std::min(a.token_ids.size(), b.token_ids.size());
    size_t p = 0;
    while (p < common && a.token_ids[p] == b.token_ids[p]) p++;
    const bool same = p == common && a.token_ids.size() == b.token_ids.size();

    // The chosen tokens' log-probs over the common prefix: a bad shard moves them before any token flips.
    for (size_t k = 0; k < p; k++) {
        double la = 0, lb = 0;
        if (!find_logprob(logprobs_at(a, na, i, int(k)), a.token_ids[k], la) ||
            !find_logprob(logprobs_at(b, nb, i, int(k)), b.token_ids[k], lb))
            continue;
        if (d.drift_pos < 0 || std::fabs(la - lb) > d.prefix_drift)
            d.prefix_drift = std::fabs(la - lb), d.drift_pos = int(k);
    }
    const std::string drift = d.drift_pos < 0 ? "" : cat("the chosen token's log-prob differs by ", d.prefix_drift,
                                                           " at position ", d.drift_pos, " (> --logprob-tol ",
                                                           s.logprob_tol, ")");
    const bool drifted = d.drift_pos >= 0 && d.prefix_drift > s.logprob_tol;
    if (same) {
        if (drifted) d.verdict = V::Diverges, d.why = "tokens identical, but " + drift;
        return d;
    }

    d.first_diff = int(p);
    d.token_a = p < a.token_ids.size() ? a.token_ids[p] : -1;
    d.token_b = p < b.token_ids.size() ? b.token_ids[p] : -1;
    TopTwo ta, tb;
    if (d.token_a >= 0) ta = top_two(logprobs_at(a, na, i, int(p)), na, i, int(p)), d.margin_a = ta.margin;
    if (d.token_b >= 0) tb = top_two(logprobs_at(b, nb, i, int(p)), nb, i, int(p)), d.margin_b = tb.margin;
    auto in_top_two = [](const TopTwo& t, int32_t id) { return id == t.first || id == t.second; };
    d.verdict = V::Diverges;
    if (d.token_a < 0 || d.token_b < 0) {
        const bool a_stopped = d.token_a < 0;
        const RunRequest& stopped = a_stopped ? a : b;
        d.why = cat(a_stopped ? na : nb, " stopped after ", p, " tokens (finish_reason \"", stopped.finish_reason,
                    "\"), ", a_stopped ? nb : na, " went on");
    } else if (drifted) {
        d.why = "before the flip, " + drift;
    } else if (d.margin_a >= s.near_tie || d.margin_b >= s.near_tie) {
        d.why = cat("top-1 - top-2 margin ", std::max(d.margin_a, d.margin_b), " >= --near-tie ", s.near_tie,
                    ": not rounding noise");
    } else if (!in_top_two(ta, d.token_b) || !in_top_two(tb, d.token_a)) {
        d.why = "both margins are small, but the runs' top-2 candidates are not the same pair";
    } else {
        d.verdict = V::NearTie;
    }
    return d;
}

std::vector<int32_t> ids_of(const json& r, const char* key, const std::string& where) {
    ENSURE(r.contains(key) && r[key].is_array(), where, ": no \"", key, "\" array");
    std::vector<int32_t> v;
    for (const auto& x : r[key]) {
        ENSURE(x.is_number_integer(), where, ": \"", key, "\" holds a non-integer");
        v.push_back(x.get<int32_t>());
    }
    return v;
}

struct CompareOptions {
    std::vector<std::string> files;
    CompareSettings s;
    bool json = false;
};

po::options_description describe(CompareOptions& o) {
    po::options_description d(
        "lockstep compare A.json B.json: where two --output-json runs of the same prompts first choose different\n"
        "tokens, and whether that is a near-tie (rounding of the all-reduce's reordered sums) or a bug.\n"
        "Run both greedily with --logprobs 2 or more. Exit code 0: no divergence; 1: a divergence or bad input");
    d.add_options()
        ("help,h", "show this help")
        ("near-tie", po::value(&o.s.near_tie)->default_value(1e-3, "1e-3"),
         "a flip is a near-tie when both runs' top-1 - top-2 log-prob margins are below this")
        ("logprob-tol", po::value(&o.s.logprob_tol)->default_value(1e-2, "1e-2"),
         "largest |logprob A - logprob B| of the chosen token over the common prefix that is not a divergence")
        ("json", po::bool_switch(&o.json), "print JSON instead of the table");
    return d;
}

const char* verdict_name(RequestDiff::Verdict v) {
    return v == RequestDiff::Verdict::Identical ? "identical" : v == RequestDiff::Verdict::NearTie ? "near-tie"
                                                                                                   : "DIVERGES";
}

std::string sci(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2e", v);
    return buf;
}

std::string token(int32_t id) { return id < 0 ? "(end)" : std::to_string(id); }

void print_table(const CompareOptions& o, const Comparison& c) {
    std::printf("compare: %s vs %s (--near-tie %g, --logprob-tol %g)\n", o.files[0].c_str(), o.files[1].c_str(),
                o.s.near_tie, o.s.logprob_tol);
    std::printf("  %4s  %-9s  %5s  %15s  %9s  %9s  %s\n", "req", "verdict", "pos", "token A / B", "margin A",
                "margin B", "prefix max |dlogprob| (pos)");
    for (size_t i = 0; i < c.requests.size(); i++) {
        const RequestDiff& d = c.requests[i];
        const bool flip = d.first_diff >= 0;
        const std::string drift =
            d.drift_pos < 0 ? "-" : sci(d.prefix_drift) + " (" + std::to_string(d.drift_pos) + ")";
        std::printf("  %4zu  %-9s  %5s  %15s  %9s  %9s  %s\n", i, verdict_name(d.verdict),
                    flip ? std::to_string(d.first_diff).c_str() : "-",
                    flip ? (token(d.token_a) + " / " + token(d.token_b)).c_str() : "-",
                    flip && d.token_a >= 0 ? sci(d.margin_a).c_str() : "-",
                    flip && d.token_b >= 0 ? sci(d.margin_b).c_str() : "-", drift.c_str());
        if (!d.why.empty()) std::printf("        %s\n", d.why.c_str());
    }
}

void print_json(const CompareOptions& o, const Comparison& c) {
    json rs = json::array();
    for (const RequestDiff& d : c.requests) {
        json r = {{"verdict", verdict_name(d.verdict)}, {"first_diff", d.first_diff}};
        if (d.first_diff >= 0) {
            r["token_a"] = d.token_a, r["token_b"] = d.token_b;
            r["margin_a"] = d.margin_a, r["margin_b"] = d.margin_b;
        }
        r["prefix_drift"] = d.prefix_drift, r["drift_pos"] = d.drift_pos;
        if (!d.why.empty()) r["why"] = d.why;
        rs.push_back(r);
    }
    json j = {{"a", o.files[0]}, {"b", o.files[1]}, {"near_tie", o.s.near_tie}, {"logprob_tol", o.s.logprob_tol},
              {"requests", rs}, {"identical", c.identical}, {"near_ties", c.near_ties},
              {"divergences", c.divergences}};
    std::cout << j.dump(2) << "\n";
}

}  // namespace

Comparison compare_runs(const std::vector<RunRequest>& a, const std::vector<RunRequest>& b, const CompareSettings& s,
                        const std::string& name_a, const std::string& name_b) {
    ENSURE(a.size() == b.size(), name_a, " has ", a.size(), " requests, ", name_b, " has ", b.size(),
           ": not runs of the same prompts");
    Comparison c;
    for (size_t i = 0; i < a.size(); i++) {
        c.requests.push_back(compare_request(a[i], b[i], s, name_a, name_b, i));
        switch (c.requests.back().verdict) {
            case RequestDiff::Verdict::Identical: c.identical++; break;
            case RequestDiff::Verdict::NearTie: c.near_ties++; break;
            case RequestDiff::Verdict::Diverges: c.divergences++; break;
        }
    }
    return c;
}

std::vector<RunRequest> parse_run(const std::string& text, const std::string& name) {
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::exception& e) {
        raise(name, ": malformed JSON (", e.what(), ")");
    }
    ENSURE(doc.is_object() && doc.contains("requests") && doc["requests"].is_array(), name,
           ": no \"requests\" array (not a lockstep --output-json file)");
    std::vector<RunRequest> out;
    for (const json& r : doc["requests"]) {
        const std::string where = cat(name, ": request ", out.size());
        ENSURE(r.is_object(), where, " is not an object");
        RunRequest q;
        q.prompt_token_ids = ids_of(r, "prompt_token_ids", where);
        q.token_ids = ids_of(r, "token_ids", where);
        if (r.contains("finish_reason") && r["finish_reason"].is_string()) q.finish_reason = r["finish_reason"];
        if (r.contains("error") && r["error"].is_string()) q.error = r["error"];
        if (r.contains("logprobs") && !r["logprobs"].is_null()) {
            ENSURE(r["logprobs"].is_array(), where, ": \"logprobs\" is neither an array nor null");
            q.has_logprobs = true;
            for (const json& pos : r["logprobs"]) {
                ENSURE(pos.is_array(), where, ": a \"logprobs\" position is not an array");
                auto& top = q.logprobs.emplace_back();
                for (const json& e : pos) {
                    ENSURE(e.is_object() && e.contains("id") && e["id"].is_number_integer() && e.contains("logprob") &&
                               e["logprob"].is_number(),
                           where, ": a \"logprobs\" entry is not {\"id\": int, \"logprob\": number}");
                    top.emplace_back(e["id"].get<int32_t>(), e["logprob"].get<double>());
                }
            }
        }
        out.push_back(std::move(q));
    }
    return out;
}

std::vector<RunRequest> load_run(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    ENSURE(f.good(), path, ": cannot read (no such file, or not readable)");
    std::stringstream ss;
    ss << f.rdbuf();
    ENSURE(!f.bad(), path, ": read failed");
    return parse_run(ss.str(), path);
}

int compare_main(int argc, char** argv) {
    CompareOptions o;
    const po::options_description desc = describe(o);
    try {
        ParsedFlags flags = parse_flags_with_strays(std::vector<std::string>(argv + 1, argv + argc), desc);
        if (flags.vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(flags.vm);
        o.files = flags.strays;
    } catch (const po::error& e) {
        std::fprintf(stderr, "error: %s\n(see lockstep compare --help)\n", e.what());
        return 2;
    }
    if (o.files.size() != 2) {
        std::fprintf(stderr,
                     "error: lockstep compare takes two --output-json files, got %zu argument(s)\n"
                     "usage: lockstep compare A.json B.json [--near-tie 1e-3] [--logprob-tol 1e-2] [--json]\n",
                     o.files.size());
        return 2;
    }
    Comparison c;
    try {
        ENSURE(o.s.near_tie > 0 && o.s.logprob_tol > 0, "--near-tie and --logprob-tol must be positive");
        const std::vector<RunRequest> a = load_run(o.files[0]);  // A first: its error is the one reported
        c = compare_runs(a, load_run(o.files[1]), o.s, o.files[0], o.files[1]);
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    if (o.json)
        print_json(o, c);
    else
        print_table(o, c);
    // With --json the summary goes to stderr, so that stdout stays one JSON document.
    std::fprintf(o.json ? stderr : stdout, "compare: %zu requests, %d identical, %d near-ties, %d divergences\n",
                 c.requests.size(), c.identical, c.near_ties, c.divergences);
    return c.divergences ? 1 : 0;
}

}  // namespace ls
