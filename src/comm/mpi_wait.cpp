#include "comm/mpi_wait.h"

#include <sched.h>
#include <time.h>

#include <algorithm>

#include "core/check.h"

namespace ls {

void wait_request(MPI_Request& req, const char* what) {
    int done = 0;
    long sleep_ns = 1000;
    for (int iter = 0;; iter++) {
        int rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) fail_mpi(what, rc, __FILE__, __LINE__);
        if (done) return;
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

}  // namespace ls
