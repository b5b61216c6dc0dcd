#include <doctest/doctest.h>

#include "comm/process_grid.h"

using namespace ls;

TEST_CASE("process grid: TP groups are contiguous world ranks") {
    // tp=2, pp=2: world 0 1 | 2 3
    CHECK(grid_coords(0, 2).tp_rank == 0);
    CHECK(grid_coords(1, 2).tp_rank == 1);
    CHECK(grid_coords(2, 2).pp_rank == 1);
    CHECK(grid_coords(3, 2).tp_rank == 1);
    // tp=8, pp=2: rank 11 is stage 1, tp rank 3
    CHECK(grid_coords(11, 8).pp_rank == 1);
    CHECK(grid_coords(11, 8).tp_rank == 3);
    for (int tp : {1, 2, 4, 8})
        for (int r = 0; r < 16; r++) CHECK(grid_coords(r, tp).pp_rank * tp + grid_coords(r, tp).tp_rank == r);
}
