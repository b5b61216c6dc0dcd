#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "backend/cpu_softmax.h"

using namespace ls;

TEST_CASE("exp_nonpositive: within 2 ulp of exp over [-87, 0], exactly 1 at 0, NaN kept") {
    double worst = 0;
    for (int i = 0; i <= 870000; i++) {
        const float x = -float(i) * 1e-4f;
        const double want = std::exp(double(x)), got = exp_nonpositive(x);
        worst = std::max(worst, std::abs(got - want) / want);
    }
    CHECK(worst < 2 * std::numeric_limits<float>::epsilon());
    CHECK(exp_nonpositive(0.0f) == 1.0f);
    CHECK(exp_nonpositive(-87.5f) == 0.0f);  // below float's normal range: 0, never garbage exponent bits
    CHECK(exp_nonpositive(-1e30f) == 0.0f);
    CHECK(exp_nonpositive(-std::numeric_limits<float>::infinity()) == 0.0f);
    CHECK(std::isnan(exp_nonpositive(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("softmax_inplace: the softmax to float precision, at every length around the vector width") {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 8.0f);
    for (int64_t n : {1, 2, 15, 16, 17, 31, 32, 33, 190, 1000, 1025}) {
        CAPTURE(n);
        std::vector<float> row(static_cast<size_t>(n));
        for (float& v : row) v = nd(rng);
        row[size_t(n / 2)] += 300.0f;  // one score far above the rest: theirs underflow, its weight is ~1
        if (n > 3) row[size_t(n / 3)] = row[size_t(n / 2)];  // a tie at the maximum
        double m = -1e300, sum = 0;
        for (float v : row) m = std::max(m, double(v));
        for (float v : row) sum += std::exp(double(v) - m);
        std::vector<float> got = row;
        softmax_inplace(got.data(), n);
        double total = 0;
        for (int64_t j = 0; j < n; j++) {
            const double want = std::exp(double(row[size_t(j)]) - m) / sum;
            CHECK(std::abs(double(got[size_t(j)]) - want) <= 1e-6 * want + 2e-38);  // underflow: 0, not denormals
            CHECK(got[size_t(j)] >= 0.0f);
            total += got[size_t(j)];
        }
        CHECK(total == doctest::Approx(1.0).epsilon(1e-6));
    }
}

TEST_CASE("softmax_inplace: a NaN score makes the whole row NaN, wherever it is") {
    for (int64_t at : {0, 5, 16, 40}) {
        std::vector<float> row(41, 0.5f);
        row[size_t(at)] = std::numeric_limits<float>::quiet_NaN();
        softmax_inplace(row.data(), int64_t(row.size()));
        for (float v : row) CHECK(std::isnan(v));
    }
}
