// Sampler: greedy ties, top-k / top-p cuts, seeded determinism, empirical frequencies of the draws, the
// log-probabilities it reports, and the flag-named validation errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "engine/sampler.h"

using namespace ls;

namespace {

SamplingParams params(float temperature, int top_k = -1, float top_p = 1.0f, int n_logprobs = 0) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.n_logprobs = n_logprobs;
    return p;
}

// Deterministic pseudo-random logits in [-5, 5), independent of the sampler's own RNG.
std::vector<float> random_logits(int n, uint64_t seed) {
    std::mt19937_64 g(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = float(double(g() >> 11) * 0x1.0p-53 * 10.0 - 5.0);
    return v;
}

// Frequencies of `n_draws` samples of one request.
std::vector<double> frequencies(const std::vector<float>& logits, const SamplingParams& p, int n_draws) {
    auto rng = make_request_rng(1234, 0);
    std::vector<double> f(logits.size(), 0.0);
    for (int i = 0; i < n_draws; ++i) f[sample(logits.data(), int(logits.size()), p, rng).token] += 1.0;
    for (auto& x : f) x /= n_draws;
    return f;
}

std::vector<float> log_of(const std::vector<double>& probs) {
    std::vector<float> v;
    for (double p : probs) v.push_back(float(std::log(p)));
    return v;
}

}  // namespace

TEST_CASE("greedy picks the argmax, the lowest id on ties, and consumes no randomness") {
    std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
    auto rng = make_request_rng(7, 0);
    auto untouched = rng;
    CHECK(sample(logits.data(), 5, params(0.0f), rng).token == 1);
    CHECK(rng == untouched);

    std::vector<float> all_equal(10, 3.0f);
    CHECK(sample(all_equal.data(), 10, params(0.0f), rng).token == 0);

    std::vector<float> with_masked = {-INFINITY, -INFINITY, -7.0f, -INFINITY};
    CHECK(sample(with_masked.data(), 4, params(0.0f), rng).token == 2);
}

TEST_CASE("top_k = 1 and a tiny top_p are greedy at any temperature") {
    for (uint64_t s = 0; s < 5; ++s) {
        auto logits = random_logits(1000, s);
        auto rng = make_request_rng(s, 0);
        const int32_t greedy = sample(logits.data(), 1000, params(0.0f), rng).token;
        for (float t : {0.01f, 0.7f, 1.0f, 5.0f, 1000.0f}) {
            CHECK(sample(logits.data(), 1000, params(t, 1), rng).token == greedy);
            CHECK(sample(logits.data(), 1000, params(t, -1, 1e-6f), rng).token == greedy);
            CHECK(sample(logits.data(), 1000, params(t, 50, 1e-6f), rng).token == greedy);
        }
    }
    // A tie at the top: top_k = 1 keeps the lower id, as greedy does.
    std::vector<float> tie = {0.0f, 4.0f, 1.0f, 4.0f};
    auto rng = make_request_rng(0, 0);
    for (int i = 0; i < 20; ++i) CHECK(sample(tie.data(), 4, params(1.0f, 1), rng).token == 1);
}

TEST_CASE("the same seed gives the same draws; other seeds and request indices give others") {
    auto logits = random_logits(500, 99);
    auto draws = [&](uint64_t seed, uint64_t request) {
        auto rng = make_request_rng(seed, request);
        std::vector<int32_t> out;
        for (int i = 0; i < 64; ++i)
            out.push_back(sample(logits.data(), 500, params(1.5f, 40, 0.95f), rng).token);
        return out;
    };
    CHECK(draws(42, 3) == draws(42, 3));
    CHECK(draws(42, 3) != draws(43, 3));
    CHECK(draws(42, 3) != draws(42, 4));
    CHECK(draws(0, 1) != draws(1, 0));
    // seed_seq and mt19937_64 are fully specified by the standard, so this value holds on every platform.
    auto rng = make_request_rng(0, 0);
    CHECK(rng() == 0x88600d1cd817181cull);
}

TEST_CASE("draw frequencies match the temperature / top-k / top-p distribution") {
    // 20000 draws with a fixed seed: deterministic, and the tolerance is about 5 standard deviations.
    const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
    const auto logits = log_of(p);
    const int n = 20000;
    const double tol = 0.018;

    SUBCASE("temperature 1 reproduces softmax(logits)") {
        auto f = frequencies(logits, params(1.0f), n);
        for (int i = 0; i < 4; ++i) CHECK(std::abs(f[i] - p[i]) < tol);
    }
    SUBCASE("temperature 2 flattens: p^(1/2), renormalized") {
        double z = 0;
        for (double x : p) z += std::sqrt(x);
        auto f = frequencies(logits, params(2.0f), n);
        for (int i = 0; i < 4; ++i) CHECK(std::abs(f[i] - std::sqrt(p[i]) / z) < tol);
    }
    SUBCASE("top_k = 2 keeps the two largest, renormalized") {
        auto f = frequencies(logits, params(1.0f, 2), n);
        CHECK(f[0] == 0.0);
        CHECK(f[1] == 0.0);
        CHECK(std::abs(f[2] - 3.0 / 7.0) < tol);
        CHECK(std::abs(f[3] - 4.0 / 7.0) < tol);
    }
    SUBCASE("top_p = 0.65 keeps {0.4, 0.3} (0.4 alone is not enough)") {
        auto f = frequencies(logits, params(1.0f, -1, 0.65f), n);
        CHECK(f[0] == 0.0);
        CHECK(f[1] == 0.0);
        CHECK(std::abs(f[2] - 3.0 / 7.0) < tol);
        CHECK(std::abs(f[3] - 4.0 / 7.0) < tol);
    }
    SUBCASE("top_p = 0.35 keeps only the most likely token") {
        auto f = frequencies(logits, params(1.0f, -1, 0.35f), n);
        CHECK(f[3] == 1.0);
    }
    SUBCASE("top-k then top-p: k = 3 gives {0.2, 0.3, 0.4}/0.9; top_p = 0.5 of that keeps {0.4, 0.3}") {
        auto f = frequencies(logits, params(1.0f, 3, 0.5f), n);
        CHECK(f[0] == 0.0);
        CHECK(f[1] == 0.0);
        CHECK(std::abs(f[3] - 4.0 / 7.0) < tol);
    }
    SUBCASE("masked (-inf) tokens are never drawn") {
        std::vector<float> masked = {0.0f, -INFINITY, 0.0f, -INFINITY};
        auto f = frequencies(masked, params(3.0f), n);
        CHECK(f[1] == 0.0);
        CHECK(f[3] == 0.0);
        CHECK(std::abs(f[0] - 0.5) < tol);
    }
}

TEST_CASE("top_p over a flat vocab keeps exactly the lowest ids that reach the mass") {
    // 3000 equal logits: top_p = 0.5 must keep ids 0..1499 (ties go to the lower id), which is past the
    // sampler's first 1024-token sorted head, so this also covers growing the head.
    std::vector<float> flat(3000, 0.25f);
    auto rng = make_request_rng(11, 0);
    int32_t max_seen = 0;
    for (int i = 0; i < 500; ++i)
        max_seen = std::max(max_seen, sample(flat.data(), 3000, params(0.9f, -1, 0.5f), rng).token);
    CHECK(max_seen < 1500);
    CHECK(max_seen > 1400);
}

TEST_CASE("logprobs are the top log_softmax of the raw logits, highest first, ties by lower id") {
    std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f, 2.0f, -INFINITY, 1.0f};
    const int n_vocab = int(logits.size());
    auto rng = make_request_rng(5, 0);

    // Temperature, top-k and top-p do not change what is reported.
    auto a = sample(logits.data(), n_vocab, params(0.0f, -1, 1.0f, 8), rng);
    auto b = sample(logits.data(), n_vocab, params(7.0f, 2, 0.3f, 8), rng);
    REQUIRE(a.top.size() == 8);
    REQUIRE(b.top.size() == 8);
    for (int i = 0; i < 8; ++i) {
        CHECK(a.top[i].id == b.top[i].id);
        CHECK(a.top[i].logprob == b.top[i].logprob);
    }

    const std::vector<int32_t> order = {1, 3, 5, 0, 7, 4, 2, 6};
    double sum = 0.0;
    for (int i = 0; i < 8; ++i) {
        CHECK(a.top[i].id == order[i]);
        sum += std::exp(a.top[i].logprob);
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(a.top[7].logprob == -INFINITY);
    double z = 0;
    for (float l : logits) z += std::exp(double(l));
    CHECK(a.top[0].logprob == doctest::Approx(3.0 - std::log(z)).epsilon(1e-12));

    // Asking for more than the vocab gives the whole vocab; asking for none gives nothing.
    auto few = sample(logits.data(), 3, params(0.0f, -1, 1.0f, 20), rng);
    CHECK(few.top.size() == 3);
    CHECK(sample(logits.data(), n_vocab, params(1.0f), rng).top.empty());
}

TEST_CASE("OPT-sized vocab: logprobs sum and top-20 order with n_vocab = 50272") {
    const int n_vocab = 50272;
    auto logits = random_logits(n_vocab, 2024);
    auto rng = make_request_rng(1, 0);
    auto r = sample(logits.data(), n_vocab, params(0.8f, -1, 0.9f, 20), rng);
    REQUIRE(r.top.size() == 20);
    for (int i = 1; i < 20; ++i) CHECK(r.top[i - 1].logprob >= r.top[i].logprob);
    CHECK(r.top[0].id == sample(logits.data(), n_vocab, params(0.0f), rng).token);
    // The 20 reported are the 20 largest: nothing outside them beats the last one.
    double max = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (float l : logits) z += std::exp(double(l) - max);
    int n_above = 0;
    for (float l : logits) n_above += (double(l) - max - std::log(z)) > r.top[19].logprob;
    CHECK(n_above <= 19);
    CHECK(r.token >= 0);
    CHECK(r.token < n_vocab);
}

TEST_CASE("invalid parameters throw ls::Error naming the flag") {
    std::vector<float> logits = {0.0f, 1.0f};
    auto rng = make_request_rng(0, 0);
    auto run = [&](const SamplingParams& p) { sample(logits.data(), 2, p, rng); };
    CHECK_THROWS_WITH_AS(run(params(1.0f, -1, 1.5f)), "--top-p must be in (0, 1], got 1.5", Error);
    CHECK_THROWS_WITH_AS(run(params(1.0f, -1, 0.0f)), "--top-p must be in (0, 1], got 0", Error);
    CHECK_THROWS_WITH_AS(run(params(-1.0f)), "--temperature must be >= 0, got -1", Error);
    CHECK_THROWS_AS(run(params(NAN)), Error);
    CHECK_THROWS_AS(run(params(1.0f, -1, NAN)), Error);
    CHECK_THROWS_WITH_AS(run(params(1.0f, -2)), "--top-k must be >= -1 (-1 or 0 = all), got -2", Error);
    CHECK_THROWS_WITH_AS(run(params(1.0f, -1, 1.0f, 21)), "--logprobs must be in [0, 20], got 21", Error);
    CHECK_THROWS_WITH_AS(run(params(1.0f, -1, 1.0f, -1)), "--logprobs must be in [0, 20], got -1", Error);
    CHECK_NOTHROW(run(params(0.0f, 0, 1.0f, 20)));

    std::vector<float> bad = {0.0f, NAN};
    CHECK_THROWS_AS(sample(bad.data(), 2, params(1.0f), rng), Error);
    std::vector<float> all_masked = {-INFINITY, -INFINITY};
    CHECK_THROWS_AS(sample(all_masked.data(), 2, params(1.0f), rng), Error);
    CHECK_THROWS_AS(sample(logits.data(), 0, params(1.0f), rng), Error);
}
