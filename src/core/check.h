// The one error path: library code throws ls::Error with a message naming the file, tensor, flag or rank at
// fault; each rank's main() catches it and calls fail(), which takes the whole MPI job down (MPI_Abort) so no
// rank is left waiting in a collective. MPI_CALL wraps every MPI return code the same way.
#pragma once
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ls {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

template <class... A>
std::string cat(const A&... a) {
    std::ostringstream os;
    (os << ... << a);
    return os.str();
}

template <class... A>
[[noreturn]] void raise(const A&... a) {
    throw Error(cat(a...));
}

// Prints "[rank R host] error: msg" to stderr and ends every rank of the job with exit code `code`.
[[noreturn]] void fail(const std::string& msg, int code = 1);

// Called by fail() with the message before the job is aborted (once; its own errors are ignored): the driver
// uses it to write what it has collected as an incomplete report.
void set_abort_hook(std::function<void(const std::string&)> hook);

// Called by fail() first, before the hook and MPI_Abort (every one, once; errors ignored): the NCCL
// communicators register ncclCommAbort here, so that kernels stuck in a collective are released, as
// FasterTransformer does.
void add_abort_cleanup(std::function<void()> cleanup);

// A worker that fails first tells the driver (world rank 0) on this tag of MPI_COMM_WORLD, so that the driver
// ends the job itself: it names the failed rank and writes its report, marked incomplete.
constexpr int kTagAbortNotice = 99;
// On the driver, inside MPI waits: if a worker sent an abort notice, fail() with it (never returns then).
void check_abort_notice();

// A failed CUDA, cuBLAS or NCCL call: throws ls::Error "call failed at file:line: error text" (the rank is added
// by fail() when main() catches it). Used by CUDA_CALL, CUBLAS_CALL and NCCL_CALL, which stringify the call.
[[noreturn]] void raise_call_failed(const char* call, const char* error, const char* file, int line);

// mpirun ends a job whose rank exited or was killed by sending the others SIGTERM, then SIGKILL a second
// later. catch_sigterm() turns SIGTERM into a flag that every wait checks (core/wait.h), so the driver fails
// in time to write its report, marked incomplete, instead of dying without one.
void catch_sigterm();
bool sigterm_received();

// Reports a failed MPI call by name, with the MPI library's message, file and line, then fail()s.
[[noreturn]] void fail_mpi(const char* call, int rc, const char* file, int line);

}  // namespace ls

#define ENSURE(cond, ...)                        \
    do {                                         \
        if (!(cond)) ::ls::raise(__VA_ARGS__);   \
    } while (0)

#define MPI_CALL(x)                                                          \
    do {                                                                     \
        int ls_rc_ = (x);                                                    \
        if (ls_rc_ != 0) ::ls::fail_mpi(#x, ls_rc_, __FILE__, __LINE__);     \
    } while (0)
