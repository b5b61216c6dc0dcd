#include "parallel/pipeline.h"

#include <sstream>

#include "core/check.h"

namespace ls {

LayerRange stage_layers(int n_layers, int pp_size, int pp_rank, const std::string& partition) {
    std::vector<int> sizes;
    if (partition.empty()) {
        for (int p = 0; p < pp_size; p++) sizes.push_back(n_layers / pp_size + (p < n_layers % pp_size ? 1 : 0));
    } else {
        std::stringstream ss(partition);
        for (std::string item; std::getline(ss, item, ',');) {
            int n = 0;
            try {
                n = std::stoi(item);
            } catch (const std::exception&) {
                raise("--pipeline-layer-partition ", partition, ": \"", item, "\" is not a number");
            }
            sizes.push_back(n);
        }
        ENSURE(int(sizes.size()) == pp_size, "--pipeline-layer-partition ", partition, " names ", sizes.size(),
               " stages, --pipeline-parallel-size is ", pp_size);
        int total = 0;
        for (int n : sizes) total += n;
        ENSURE(total == n_layers, "--pipeline-layer-partition ", partition, " adds up to ", total,
               " layers, the model has ", n_layers);
    }
    for (int n : sizes)
        ENSURE(n >= 1, "pipeline stage with no layer: ", n_layers, " layers over ", pp_size, " stages",
               partition.empty() ? "" : cat(" (--pipeline-layer-partition ", partition, ")"));
    LayerRange r;
    for (int p = 0; p < pp_rank; p++) r.begin += sizes[size_t(p)];
    r.end = r.begin + sizes[size_t(pp_rank)];
    return r;
}

}  // namespace ls
