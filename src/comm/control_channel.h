// Host-side messages from the driver to every rank: the step plan each step, a few integers at start-up.
// Size first, then the data, both as non-blocking broadcasts waited on without spinning (see mpi_wait.h).
#pragma once
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ls {

// On `root` v is sent; elsewhere it is replaced by what root sent.
void broadcast_ints(std::vector<int32_t>& v, MPI_Comm comm, int root, const char* what);
// Gathers one short string from every rank of comm on root (each cut to 63 bytes): [comm size] on root,
// empty elsewhere. Host and device names for the logs and the report.
std::vector<std::string> gather_strings(const std::string& mine, MPI_Comm comm, int root);
// The same on every rank: [comm size] everywhere.
std::vector<std::string> all_gather_strings(const std::string& mine, MPI_Comm comm);

// A point-to-point message left in flight while the sender goes on (a stage handing the plan to the next,
// the last stage sending logits to the driver): two blocking sends in opposite directions between pipeline
// stages would deadlock. wait() before the next start().
class AsyncSend {
public:
    void start(const void* data, size_t bytes, MPI_Comm comm, int dst, int tag);
    void wait(const char* what);

private:
    std::vector<char> buf_;
    MPI_Request req_ = MPI_REQUEST_NULL;
};

constexpr int kTagPlan = 1, kTagLogits = 2;  // the Communicator's sends use tag 0
// Receives a message of int32 of unknown length (probing without spinning).
std::vector<int32_t> recv_ints(MPI_Comm comm, int src, int tag, const char* what);
// Receives exactly `bytes` bytes (logits, or greedy token ids) into data, polled under the watchdog.
void recv_bytes(void* data, size_t bytes, MPI_Comm comm, int src, int tag, const char* what);

}  // namespace ls
