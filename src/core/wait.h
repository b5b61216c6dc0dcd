// Waiting without burning a core: a short spin for fast completions, then sched_yield, then sleeps that grow
// to 200 µs. Ranks that wait on rank 0 (sampling, tokenizing) or on a slower peer give their core to whoever
// has work, which matters when 16 ranks share 2 cores. Every wait is bounded by the watchdog below.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace ls {

// The watchdog: no wait lasts longer than `seconds` (0: forever). On expiry the rank fails, naming the wait
// and the step, which takes the whole job down (a peer that died or hangs never arrives).
void set_wait_timeout(double seconds, const char* phase);  // phase: "loading", "serving"
void set_wait_step(int64_t step);                           // for the message; -1 outside the loop

// Polls test(done) (an MPI return code; done set when finished) until done. `what` names the wait in error
// messages ("all-reduce (TP group)", "step plan broadcast"). The driver also watches for abort notices.
// may_sleep false: sched_yield only, never sleep (a GPU rank owns its core, and a 200 µs sleep would be a
// visible share of a decode step).
void poll(const std::function<int(int&)>& test, const char* what, bool may_sleep = true);
// The same for anything else that can be polled: a CUDA stream, an NCCL communicator's async state.
void wait_until(const std::function<bool()>& done, const char* what, bool may_sleep = true);

// Checks that every wait runs now and then (each 256 polls): one that returns a message ends the wait, and the
// rank, with it. NCCL asks for this: a network or remote failure is reported as a communicator's asynchronous
// error while its kernels keep spinning, so without it a rank would wait for the watchdog. Returns an id for
// remove_wait_check.
int add_wait_check(std::function<std::string()> check);
void remove_wait_check(int id);

}  // namespace ls
