// The sampling rank's last step: validate the request's SamplingParams, report top-K log-probabilities of the
// raw logits, then pick a token greedily or by a seeded draw over the top-k / top-p candidates.
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/check.h"

namespace ls {
namespace {

// Strict weak order "more likely first": higher logit, then lower id, so every cut (top-k, top-p, logprobs)
// is fully determined by the logits and never by how a library orders equal elements.
struct MoreLikely {
    const float* logits;
    bool operator()(int32_t a, int32_t b) const {
        if (logits[a] != logits[b]) return logits[a] > logits[b];
        return a < b;
    }
};

void validate(const SamplingParams& p) {
    // Written so that NaN fails every check (each comparison with NaN is false).
    ENSURE(std::isfinite(p.temperature) && p.temperature >= 0.0f, "--temperature must be >= 0, got ",
           p.temperature);
    ENSURE(p.top_p > 0.0f && p.top_p <= 1.0f, "--top-p must be in (0, 1], got ", p.top_p);
    ENSURE(p.top_k >= -1, "--top-k must be >= -1 (-1 or 0 = all), got ", p.top_k);
    ENSURE(p.n_logprobs >= 0 && p.n_logprobs <= 20, "--logprobs must be in [0, 20], got ", p.n_logprobs);
}

// Index of the largest logit (lowest id on ties); also rejects logits no softmax can handle.
int32_t checked_argmax(const float* logits, int n_vocab) {
    int32_t best = 0;
    // -inf is allowed (a masked token); NaN or +inf means the forward pass broke.
    bool finite_or_masked = true;
    for (int32_t i = 0; i < n_vocab; ++i) {
        finite_or_masked &= !std::isnan(logits[i]) && logits[i] != INFINITY;
        if (logits[i] > logits[best]) best = i;
    }
    if (!finite_or_masked)
        for (int32_t i = 0; i < n_vocab; ++i)
            ENSURE(!std::isnan(logits[i]) && logits[i] != INFINITY, "sampler: logit ", i, " is ", logits[i]);
    ENSURE(logits[best] != -INFINITY, "sampler: all ", n_vocab, " logits are -inf");
    return best;
}

// Top n of log_softmax(logits), highest first. partial_sort keeps it O(n_vocab · log n).
std::vector<TokenLogprob> top_logprobs(const float* logits, int n_vocab, int n, int32_t argmax) {
    const double max = logits[argmax];
    double sum = 0.0;
    for (int i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - max);
    const double log_z = max + std::log(sum);

    n = std::min(n, n_vocab);
    std::vector<int32_t> ids(n_vocab);
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + n, ids.end(), MoreLikely{logits});
    std::vector<TokenLogprob> top(n);
    for (int r = 0; r < n; ++r) top[r] = {ids[r], double(logits[ids[r]]) - log_z};
    return top;
}

// Uniform double in [0, 1) from the top 53 bits of one rng() output. Our own mapping (not
// std::uniform_real_distribution, whose algorithm the standard leaves to the library) so that a seed
// gives the same draws with libstdc++, libc++ and MSVC.
double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

// Temperature, top-k, top-p, renormalize, draw. Consumes exactly one rng() output per call, whatever the
// candidate count, so a request's stream position depends only on how many tokens it has sampled.
int32_t draw(const float* logits, int n_vocab, const SamplingParams& p, int32_t argmax,
             std::mt19937_64& rng) {
    // Stable softmax in double: exp((l - l_max) / T) with l_max = logits[argmax], so every exponent is <= 0.
    // The argmax survives every cut below, so l_max is also the maximum over the candidates.
    const double inv_t = 1.0 / double(p.temperature);
    const double max = logits[argmax];
    auto weight = [&](int32_t id) { return std::exp((double(logits[id]) - max) * inv_t); };
    const MoreLikely more_likely{logits};

    const int k = (p.top_k <= 0) ? n_vocab : std::min(p.top_k, n_vocab);
    std::vector<int32_t> cand(n_vocab);  // [n_cand] token ids: id order, or most-likely-first once cut
    std::iota(cand.begin(), cand.end(), 0);
    if (k < n_vocab) {
        // After nth_element the survivors' order is library-specific; sorting them keeps the sums below
        // (and so the draw) the same on every platform.
        std::nth_element(cand.begin(), cand.begin() + (k - 1), cand.end(), more_likely);
        cand.resize(k);
        std::sort(cand.begin(), cand.end(), more_likely);
    }
    double total = 0.0;  // softmax denominator over the top-k survivors, summed in their (defined) order
    for (int32_t id : cand) total += weight(id);

    // Top-p: the shortest most-likely-first prefix whose probability reaches top_p (at least one token).
    // Without top-k the candidates are the whole vocab; real next-token distributions put the mass in a
    // few hundred tokens, so sort a growing head (O(n log head)) instead of all 50k ids.
    size_t n_keep = cand.size();
    if (p.top_p < 1.0f) {
        const double need = double(p.top_p) * total;
        size_t head = (k < n_vocab) ? cand.size() : std::min<size_t>(cand.size(), 1024);
        while (true) {
            if (k == n_vocab) std::partial_sort(cand.begin(), cand.begin() + head, cand.end(), more_likely);
            double cum = 0.0;
            for (n_keep = 0; n_keep < head && cum < need;) cum += weight(cand[n_keep++]);
            if (cum >= need || head == cand.size()) break;
            head = std::min(cand.size(), head * 8);
        }
        total = 0.0;
        for (size_t i = 0; i < n_keep; ++i) total += weight(cand[i]);
    }

    const double target = uniform01(rng) * total;
    double cum = 0.0;
    for (size_t i = 0; i < n_keep; ++i) {
        cum += weight(cand[i]);
        if (target < cum) return cand[i];
    }
    // Only reachable through rounding when target lands within an ulp of total: take the last token with
    // non-zero weight (never a zero-probability one).
    for (size_t i = n_keep; i-- > 0;)
        if (weight(cand[i]) > 0.0) return cand[i];
    return argmax;
}

}  // namespace

std::mt19937_64 make_request_rng(uint64_t seed, uint64_t request_index) {
    // seed_seq's mixing is specified by the standard (unlike most distributions), so the stream is the same
    // everywhere; feeding both 64-bit values as 32-bit halves keeps neighbouring seeds and indices unrelated.
    std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(request_index),
                      uint32_t(request_index >> 32)};
    return std::mt19937_64(seq);
}

SampleResult sample(const float* logits, int n_vocab, const SamplingParams& params, std::mt19937_64& rng) {
    validate(params);
    ENSURE(logits != nullptr && n_vocab > 0, "sampler: empty logits (n_vocab = ", n_vocab, ")");
    const int32_t argmax = checked_argmax(logits, n_vocab);

    SampleResult r;
    if (params.n_logprobs > 0) r.top = top_logprobs(logits, n_vocab, params.n_logprobs, argmax);
    r.token = (params.temperature == 0.0f) ? argmax : draw(logits, n_vocab, params, argmax, rng);
    return r;
}

}  // namespace ls
