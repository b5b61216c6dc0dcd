// Percentiles with linear interpolation between order statistics (numpy's default), for latency figures.
#pragma once
#include <algorithm>
#include <vector>

namespace ls {

inline double percentile(std::vector<double> v, double p) {  // p in [0, 100]; 0 for no values
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double pos = p / 100.0 * double(v.size() - 1);
    const size_t lo = size_t(pos), hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

}  // namespace ls
