// WorkerPool: the CPU backend's threads for its own loops.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "backend/worker_pool.h"

using namespace ls;

TEST_CASE("worker pool: every part runs once a call, part 0 on the caller, however many parts each call has") {
    WorkerPool pool(4);
    CHECK(pool.size() == 4);
    const std::thread::id caller = std::this_thread::get_id();
    // Calls of 1 to 4 parts in a changing order, so that workers idle in one call take part in the next.
    for (int round = 0; round < 200; round++) {
        const int n = 1 + (round * 7) % 4;
        std::vector<std::atomic<int>> ran(4);
        std::vector<std::thread::id> who(4);
        pool.run(n, [&](int k) {
            ran[size_t(k)]++;
            who[size_t(k)] = std::this_thread::get_id();
        });
        for (int k = 0; k < 4; k++) CHECK(ran[size_t(k)] == (k < n ? 1 : 0));
        CHECK(who[0] == caller);
        for (int k = 1; k < n; k++) CHECK(who[size_t(k)] != caller);
    }
}

TEST_CASE("worker pool: a part's exception reaches the caller, and the pool goes on working") {
    WorkerPool pool(3);
    for (int thrower : {0, 2}) {
        std::atomic<int> ran = 0;
        CHECK_THROWS_WITH(pool.run(3,
                                   [&](int k) {
                                       ran++;
                                       if (k == thrower) throw std::runtime_error("part failed");
                                   }),
                          "part failed");
        CHECK(ran == 3);  // the others still ran to the end before run() returned
    }
    std::atomic<int> sum = 0;
    pool.run(3, [&](int k) { sum += k + 1; });
    CHECK(sum == 6);
    CHECK_THROWS_WITH(pool.run(4, [](int) {}), doctest::Contains("4 parts for 3 threads"));
    CHECK_THROWS(pool.run(0, [](int) {}));
}
