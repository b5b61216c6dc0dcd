#include <doctest/doctest.h>

#include "core/check.h"
#include "engine/step_plan.h"

using namespace ls;

TEST_CASE("step plan: pack/unpack round trip") {
    StepPlan p;
    p.step = 7;
    p.seq_ids = {3, 5};
    p.query_start = {0, 3, 4};
    p.token_ids = {10, 11, 12, 13};
    p.positions = {0, 1, 2, 9};
    p.slot_mapping = {16, 17, 18, 41};
    p.max_blocks = 3;
    p.block_tables = {4, 0, 0, 1, 2, 10};
    p.sample_rows = {2, 3};
    CHECK(StepPlan::unpack(p.pack()) == p);
    p.greedy = true;  // the device picks the tokens
    CHECK(StepPlan::unpack(p.pack()).greedy);
    CHECK(StepPlan::unpack(p.pack()) == p);
    CHECK_FALSE(StepPlan::unpack(p.pack()).stop);

    StepPlan stop;
    stop.step = 8;
    stop.stop = true;
    CHECK(StepPlan::unpack(stop.pack()) == stop);
}

TEST_CASE("step plan: malformed messages are refused") {
    StepPlan p;
    p.seq_ids = {0};
    p.query_start = {0, 1};
    p.token_ids = {5};
    p.positions = {0};
    p.slot_mapping = {0};
    p.max_blocks = 1;
    p.block_tables = {0};
    auto w = p.pack();
    CHECK_THROWS_AS(StepPlan::unpack({}), Error);
    auto bad = w;
    bad[0] = 0;
    CHECK_THROWS_AS(StepPlan::unpack(bad), Error);
    bad = w;
    bad[2] = 4;  // an unknown flag
    CHECK_THROWS_AS(StepPlan::unpack(bad), Error);
    bad = w;
    bad[4] = 1000;  // claims more tokens than the message carries
    CHECK_THROWS_AS(StepPlan::unpack(bad), Error);
    bad = w;
    bad.pop_back();
    CHECK_THROWS_AS(StepPlan::unpack(bad), Error);
}
