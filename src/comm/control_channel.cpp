#include "comm/control_channel.h"

#include "comm/mpi_wait.h"
#include "core/check.h"

namespace ls {

void broadcast_ints(std::vector<int32_t>& v, MPI_Comm comm, int root, const char* what) {
    int64_t n = int64_t(v.size());
    MPI_Request req;
    MPI_CALL(MPI_Ibcast(&n, 1, MPI_INT64_T, root, comm, &req));
    wait_request(req, what);
    v.resize(size_t(n));
    if (n == 0) return;
    MPI_CALL(MPI_Ibcast(v.data(), int(n), MPI_INT32_T, root, comm, &req));
    wait_request(req, what);
}

}  // namespace ls
