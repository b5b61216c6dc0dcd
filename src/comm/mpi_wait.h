// Waiting on non-blocking MPI requests under the watchdog, without spinning (core/wait.h).
#pragma once
#include <mpi.h>

#include "core/wait.h"

namespace ls {

// `what` names the wait in error messages ("all-reduce (TP group)", "step plan broadcast").
void wait_request(MPI_Request& req, const char* what);
// The same wait for a message to arrive (MPI_Iprobe), for receives whose length the sender decides.
void wait_probe(MPI_Comm comm, int src, int tag, MPI_Status& status, const char* what);

}  // namespace ls
