// Where this rank sits in the pp × tp grid, and the MPI communicators of its groups.
//
// world_rank = pp_rank · tp_size + tp_rank: TP groups are contiguous ranks, so with a hostfile that fills
// one node before the next, each TP group (one all-reduce per layer half) stays inside a node.
//   tp=2, pp=2:  world ranks 0 1 | 2 3     TP groups {0,1} {2,3}     PP groups {0,2} {1,3}
//   tp=4, pp=1:  world ranks 0 1 2 3       TP group  {0,1,2,3}       PP groups {0} {1} {2} {3}
// local_rank (rank among the processes of this host) picks the CUDA device; it comes from
// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), never from world_rank % device count.
#pragma once
#include <mpi.h>

#include <string>

namespace ls {

struct ProcessGrid {
    int world_rank = 0, world_size = 1;
    int tp_rank = 0, tp_size = 1;
    int pp_rank = 0, pp_size = 1;
    int local_rank = 0, local_size = 1;
    MPI_Comm world_comm = MPI_COMM_WORLD;
    MPI_Comm tp_comm = MPI_COMM_NULL;
    MPI_Comm pp_comm = MPI_COMM_NULL;
    std::string host;

    bool is_driver() const { return world_rank == 0; }  // schedules and samples
    bool is_first_stage() const { return pp_rank == 0; }
    bool is_last_stage() const { return pp_rank == pp_size - 1; }
    std::string worker_name() const;  // "Worker_TP1", or "Worker_PP1_TP3" with pp > 1
};

// Pure arithmetic of the layout above (testable without MPI).
struct GridCoords {
    int tp_rank, pp_rank;
};
GridCoords grid_coords(int world_rank, int tp_size);

// Checks world_size == tp · pp (throws ls::Error naming -np otherwise) and splits the communicators.
ProcessGrid make_process_grid(int tp_size, int pp_size);
void free_process_grid(ProcessGrid& grid);

}  // namespace ls
