// Which decode batch sizes get a CUDA graph: vLLM's 1, 2, 4, then multiples of 8, up to the smaller of
// --max-num-seqs and --max-cudagraph-capture-size, which always gets one itself (a full batch never runs eagerly).
#include <doctest/doctest.h>

#include <vector>

#include "engine/decode_graphs.h"

using namespace ls;
using V = std::vector<int>;

TEST_CASE("graph batch sizes: vLLM's list, cut at max_num_seqs and the capture limit") {
    const V all = graph_batch_sizes(256);
    CHECK(all.size() == 35);
    CHECK(V(all.begin(), all.begin() + 5) == V{1, 2, 4, 8, 16});
    CHECK(all.back() == 256);
    CHECK(graph_batch_sizes(1000) == all);  // 256 by default, as vLLM's
    CHECK(graph_batch_sizes(1000, 512).back() == 512);
    CHECK(graph_batch_sizes(256, 8) == V{1, 2, 4, 8});
    CHECK(graph_batch_sizes(8, 256) == V{1, 2, 4, 8});
    CHECK(graph_batch_sizes(20) == V{1, 2, 4, 8, 16, 20});
    CHECK(graph_batch_sizes(256, 12) == V{1, 2, 4, 8, 12});
    CHECK(graph_batch_sizes(256, 3) == V{1, 2, 3});
    CHECK(graph_batch_sizes(1, 256) == V{1});
}
