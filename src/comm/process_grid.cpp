#include "comm/process_grid.h"

#include <unistd.h>

#include "core/check.h"

namespace ls {

GridCoords grid_coords(int world_rank, int tp_size) { return {world_rank % tp_size, world_rank / tp_size}; }

std::string ProcessGrid::worker_name() const {
    return pp_size > 1 ? cat("Worker_PP", pp_rank, "_TP", tp_rank) : cat("Worker_TP", tp_rank);
}

ProcessGrid make_process_grid(int tp_size, int pp_size) {
    ProcessGrid g;
    MPI_CALL(MPI_Comm_rank(MPI_COMM_WORLD, &g.world_rank));
    MPI_CALL(MPI_Comm_size(MPI_COMM_WORLD, &g.world_size));
    ENSURE(g.world_size == tp_size * pp_size, "mpirun -np ", g.world_size,
           " does not match --tensor-parallel-size ", tp_size, " × --pipeline-parallel-size ", pp_size, " = ",
           tp_size * pp_size, " ranks; run mpirun -np ", tp_size * pp_size);
    g.tp_size = tp_size;
    g.pp_size = pp_size;
    auto c = grid_coords(g.world_rank, tp_size);
    g.tp_rank = c.tp_rank;
    g.pp_rank = c.pp_rank;
    MPI_CALL(MPI_Comm_split(MPI_COMM_WORLD, g.pp_rank, g.tp_rank, &g.tp_comm));
    MPI_CALL(MPI_Comm_split(MPI_COMM_WORLD, g.tp_rank, g.pp_rank, &g.pp_comm));
    MPI_Comm node;
    MPI_CALL(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g.world_rank, MPI_INFO_NULL, &node));
    MPI_CALL(MPI_Comm_rank(node, &g.local_rank));
    MPI_CALL(MPI_Comm_size(node, &g.local_size));
    MPI_CALL(MPI_Comm_free(&node));
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    g.host = host;
    return g;
}

void free_process_grid(ProcessGrid& g) {
    if (g.tp_comm != MPI_COMM_NULL) MPI_Comm_free(&g.tp_comm);
    if (g.pp_comm != MPI_COMM_NULL) MPI_Comm_free(&g.pp_comm);
}

}  // namespace ls
