#include "comm/mpi_wait.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>

#include "core/check.h"

namespace ls {

namespace {
double g_timeout_s = 0;
const char* g_phase = "loading";
int64_t g_step = -1;
}  // namespace

void set_wait_timeout(double seconds, const char* phase) {
    g_timeout_s = seconds;
    g_phase = phase;
}
void set_wait_step(int64_t step) { g_step = step; }

namespace {
// Polls `test` until it reports done: a short spin, then sched_yield, then sleeps growing to 200 µs.
template <class Test>
void poll(Test test, const char* what) {
    static const bool is_driver = [] {
        int r = -1;
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
        return r == 0;
    }();
    int done = 0;
    long sleep_ns = 1000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int iter = 0;; iter++) {
        int rc = test(done);
        if (rc != MPI_SUCCESS) fail_mpi(what, rc, __FILE__, __LINE__);
        if (done) return;
        // The driver watches for a worker's abort notice while it waits (a dead peer never arrives here).
        if (is_driver && iter % 256 == 255) check_abort_notice();
        if (g_timeout_s > 0 && iter % 256 == 255) {
            const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (waited > g_timeout_s)
                fail(cat(what, g_step >= 0 ? cat(" at step ", g_step) : cat(" while ", g_phase), ": no progress for ",
                         int(waited), " s (--collective-timeout ", g_timeout_s,
                         " s); another rank has died or hangs"));
        }
        if (iter < 64) continue;
        if (iter < 256) {
            sched_yield();
            continue;
        }
        timespec ts{0, sleep_ns};
        nanosleep(&ts, nullptr);
        sleep_ns = std::min(sleep_ns * 2, 200'000L);
    }
}
}  // namespace

void wait_request(MPI_Request& req, const char* what) {
    poll([&](int& done) { return MPI_Test(&req, &done, MPI_STATUS_IGNORE); }, what);
}

void wait_probe(MPI_Comm comm, int src, int tag, MPI_Status& status, const char* what) {
    poll([&](int& done) { return MPI_Iprobe(src, tag, comm, &done, &status); }, what);
}

}  // namespace ls
