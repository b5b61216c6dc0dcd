// Pipeline parallelism's layer split: stage p of P holds a contiguous range of layers. The first stage also
// holds the embeddings, the last the final layer norm and the LM head (OPT ties it to the embedding, so the
// table is loaded on both). Hidden states [n_tokens, d_model] go from stage p to stage p+1 point to point,
// between the ranks of the same tp_rank (one PP group per tp_rank, see comm/process_grid.h).
//   24 layers, pp=2:  stage 0 layers [0, 12)   stage 1 layers [12, 24)   (--pipeline-layer-partition 10,14
//                                                                           moves two layers to stage 1)
#pragma once
#include <string>
#include <vector>

namespace ls {

struct LayerRange {
    int begin = 0, end = 0;  // [begin, end)
    int size() const { return end - begin; }
};

// Even split (the first n_layers % pp stages get one more), or `partition` ("10,14": layers per stage).
// Throws ls::Error naming --pipeline-layer-partition when it does not add up or leaves a stage empty.
LayerRange stage_layers(int n_layers, int pp_size, int pp_rank, const std::string& partition = "");

}  // namespace ls
