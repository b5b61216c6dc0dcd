#include "comm/mpi_wait.h"

#include "core/check.h"

namespace ls {

void wait_request(MPI_Request& req, const char* what) {
    poll([&](int& done) { return MPI_Test(&req, &done, MPI_STATUS_IGNORE); }, what);
}

void wait_probe(MPI_Comm comm, int src, int tag, MPI_Status& status, const char* what) {
    poll([&](int& done) { return MPI_Iprobe(src, tag, comm, &done, &status); }, what);
}

}  // namespace ls
