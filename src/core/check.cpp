#include "core/check.h"

#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace ls {

namespace {
std::function<void(const std::string&)> g_abort_hook;

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

void set_abort_hook(std::function<void(const std::string&)> hook) { g_abort_hook = std::move(hook); }

void fail(const std::string& msg, int code) {
    std::string line = cat(where(), " error: ", msg, "\n");
    // One write() per line so that lines from several ranks do not interleave mid-line.
    (void)!write(STDERR_FILENO, line.data(), line.size());
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
        if (world_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
        MPI_Finalize();
    }
    std::exit(code);
}

void fail_mpi(const char* call, int rc, const char* file, int line) {
    char text[MPI_MAX_ERROR_STRING] = {0};
    int len = 0;
    MPI_Error_string(rc, text, &len);
    fail(cat(call, " failed at ", file, ":", line, ": ", text));
}

}  // namespace ls
