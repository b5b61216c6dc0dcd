// Waiting on a non-blocking MPI request without burning a core: a short spin for fast completions, then
// sched_yield, then sleeps that grow to 200 µs. Ranks that wait on rank 0 (sampling, tokenizing) or on a
// slower peer give their core to whoever has work, which matters when 16 ranks share 2 cores.
#pragma once
#include <mpi.h>

#include <cstdint>

namespace ls {

// `what` names the wait in error messages ("all-reduce (TP group)", "step plan broadcast").
void wait_request(MPI_Request& req, const char* what);

// The watchdog: no wait lasts longer than `seconds` (0: forever). On expiry the rank fails, naming the wait
// and the step, which takes the whole job down (a peer that died or hangs never arrives).
void set_wait_timeout(double seconds, const char* phase);  // phase: "loading", "serving"
void set_wait_step(int64_t step);                           // for the message; -1 outside the loop
// The same wait for a message to arrive (MPI_Iprobe), for receives whose length the sender decides.
void wait_probe(MPI_Comm comm, int src, int tag, MPI_Status& status, const char* what);

}  // namespace ls
