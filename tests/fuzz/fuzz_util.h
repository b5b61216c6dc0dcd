// What every harness shares: a parser may reject its input only by throwing ls::Error. Any other exception, a
// broken invariant of what it returned, a sanitizer report, a crash or a hang is a finding, and libFuzzer saves
// the input that caused it.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <typeinfo>

#include "core/check.h"

#define FUZZ_ASSERT(cond)                                                                        \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                        \
        }                                                                                        \
    } while (0)

namespace ls::fuzz {

// Runs f(); returns true when it returned, false when it threw ls::Error (a clean rejection), aborts otherwise.
template <class F>
bool accepts(F&& f) {
    try {
        f();
        return true;
    } catch (const ls::Error&) {
        return false;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz: unexpected exception %s: %s\n", typeid(e).name(), e.what());
        std::abort();
    } catch (...) {
        std::fprintf(stderr, "fuzz: unexpected exception that is not a std::exception\n");
        std::abort();
    }
}

// Reads every byte of [p, p + n) so that AddressSanitizer checks a range the parser claims is inside the input
// (libFuzzer's input buffer is a heap block of exactly the input's size).
inline unsigned touch(const uint8_t* p, uint64_t n) {
    unsigned sum = 0;
    for (uint64_t k = 0; k < n; k++) sum += p[k];
    return sum;
}

}  // namespace ls::fuzz
