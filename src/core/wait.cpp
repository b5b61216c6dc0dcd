#include "core/wait.h"

#include <mpi.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "core/check.h"

namespace ls {

namespace {
double g_timeout_s = 0;
const char* g_phase = "loading";
int64_t g_step = -1;
std::map<int, std::function<std::string()>> g_checks;
int g_next_check = 0;
}  // namespace

int add_wait_check(std::function<std::string()> check) {
    g_checks.emplace(g_next_check, std::move(check));
    return g_next_check++;
}
void remove_wait_check(int id) { g_checks.erase(id); }

void set_wait_timeout(double seconds, const char* phase) {
    g_timeout_s = seconds;
    g_phase = phase;
}
void set_wait_step(int64_t step) { g_step = step; }

namespace {
// World rank 0, once MPI is up (unit tests poll without MPI: no driver, no notices). Asked only when a wait
// has lasted, and remembered, so that a quick wait costs no MPI call.
bool is_driver() {
    static int rank = -1;
    if (rank < 0) {
        int init = 0, fin = 0;
        MPI_Initialized(&init);
        MPI_Finalized(&fin);
        if (init && !fin) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    }
    return rank == 0;
}

// "<what> at step N" in the loop, "<what> while loading" before it: where a failed wait was.
std::string waiting_for(const char* what) {
    return cat(what, g_step >= 0 ? cat(" at step ", g_step) : cat(" while ", g_phase));
}
}  // namespace

// Polls `test` until it reports done: a short spin, then sched_yield, then sleeps growing to 200 µs.
void poll(const std::function<int(int&)>& test, const char* what, bool may_sleep) {
    int done = 0;
    long sleep_ns = 1000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int iter = 0;; iter++) {
        int rc = test(done);
        if (rc != MPI_SUCCESS) fail_mpi(what, rc, __FILE__, __LINE__);
        if (done) return;
        if (sigterm_received())
            fail(cat("terminated by SIGTERM while waiting for ", what, g_step >= 0 ? cat(" at step ", g_step) : "",
                     ": mpirun is ending the job: another rank exited or was killed, or the job was interrupted "
                     "(Ctrl-C, scancel; see mpirun's message)"));
        // The driver watches for a worker's abort notice while it waits (a dead peer never arrives here).
        if (iter % 256 == 255 && is_driver()) check_abort_notice();
        if (iter % 256 == 255)
            for (const auto& [id, check] : g_checks)
                if (std::string why = check(); !why.empty()) fail(cat(waiting_for(what), ": ", why));
        if (g_timeout_s > 0 && iter % 256 == 255) {
            const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (waited > g_timeout_s)
                fail(cat(waiting_for(what), ": no progress for ", int(waited), " s (--collective-timeout ",
                         g_timeout_s, " s); another rank has died or hangs"));
        }
        if (iter < 64) continue;
        if (iter < 256 || !may_sleep) {
            sched_yield();
            continue;
        }
        timespec ts{0, sleep_ns};
        nanosleep(&ts, nullptr);
        sleep_ns = std::min(sleep_ns * 2, 200'000L);
    }
}

void wait_until(const std::function<bool()>& done, const char* what, bool may_sleep) {
    poll([&](int& d) {
        d = done();
        return MPI_SUCCESS;
    }, what, may_sleep);
}

}  // namespace ls
