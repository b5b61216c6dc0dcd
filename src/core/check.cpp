#include "core/check.h"

#include <mpi.h>
#include <unistd.h>

#include <csignal>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

namespace ls {

namespace {
std::function<void(const std::string&)> g_abort_hook;
std::vector<std::function<void()>> g_abort_cleanups;

std::string where() {
    int initialized = 0, finalized = 0, world_rank = -1;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    return cat("[rank ", world_rank, " ", host, "]");
}
}  // namespace

namespace {
volatile sig_atomic_t g_sigterm = 0;
}  // namespace

void catch_sigterm() {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_sigterm = 1; };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
}
bool sigterm_received() { return g_sigterm != 0; }

void set_abort_hook(std::function<void(const std::string&)> hook) { g_abort_hook = std::move(hook); }
void add_abort_cleanup(std::function<void()> cleanup) { g_abort_cleanups.push_back(std::move(cleanup)); }

namespace {
// Sends the reason to the driver and gives it a few seconds to take the job down (writing its report); the
// caller aborts if it has not.
void notify_driver(const std::string& msg) {
    static std::string text;
    text = msg;
    MPI_Request req;
    if (MPI_Isend(text.data(), int(text.size()), MPI_CHAR, 0, kTagAbortNotice, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
        return;
    for (int i = 0; i < 300; i++) {  // 3 s
        int done = 0;
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        usleep(10'000);
    }
}
}  // namespace

void check_abort_notice() {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kTagAbortNotice, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS || !flag) return;
    int n = 0;
    MPI_Get_count(&st, MPI_CHAR, &n);
    std::string text(size_t(std::max(n, 0)), '\0');
    MPI_Recv(text.data(), n, MPI_CHAR, st.MPI_SOURCE, kTagAbortNotice, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    fail(cat("rank ", st.MPI_SOURCE, " failed: ", text));
}

void fail(const std::string& msg, int code) {
    std::string line = cat(where(), " error: ", msg, "\n");
    // One write() per line so that lines from several ranks do not interleave mid-line.
    (void)!write(STDERR_FILENO, line.data(), line.size());
    for (auto& cleanup : std::exchange(g_abort_cleanups, {})) {
        try {
            cleanup();
        } catch (...) {
        }
    }
    if (auto hook = std::exchange(g_abort_hook, nullptr)) {
        try {
            hook(msg);
        } catch (...) {
        }
    }
    int initialized = 0, finalized = 0, world_size = 1;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) {
        MPI_Comm_size(MPI_COMM_WORLD, &world_size);
        // MPI_Abort ends every rank; with one rank a plain exit keeps mpirun's output free of the abort banner.
        int world_rank = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
        // A worker has no report to write: the SIGTERM that mpirun sends once the driver aborts may end it
        // while it waits for the driver to hear its notice.
        if (world_rank != 0) std::signal(SIGTERM, SIG_DFL);
        if (world_size > 1 && world_rank != 0) notify_driver(msg);
        // mpirun answers MPI_Abort with SIGTERM: let it end this rank at once again, not at the SIGKILL a
        // second later.
        std::signal(SIGTERM, SIG_DFL);
        if (world_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
        MPI_Finalize();
    }
    std::exit(code);
}

void raise_call_failed(const char* call, const char* error, const char* file, int line) {
    raise(call, " failed at ", file, ":", line, ": ", error);
}

void fail_mpi(const char* call, int rc, const char* file, int line) {
    char text[MPI_MAX_ERROR_STRING] = {0};
    int len = 0;
    MPI_Error_string(rc, text, &len);
    fail(cat(call, " failed at ", file, ":", line, ": ", text));
}

}  // namespace ls
