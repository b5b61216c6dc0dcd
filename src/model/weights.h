// Finds OPT's tensors in a checkpoint under whichever prefix it was saved with ("model.decoder." from
// OPTForCausalLM, "decoder." from OPTModel) and checks each one's shape against config.json.
#pragma once
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "config/model_config.h"

namespace ls {

class OptWeightNames {
public:
    OptWeightNames(const Checkpoint& ckpt, const ModelConfig& cfg);
    // `suffix` after the prefix, e.g. "layers.0.fc1.weight". Throws naming the file and tensor when the tensor
    // is missing, has another shape, or has a dtype we cannot read.
    const TensorInfo& get(const std::string& suffix, const std::vector<int64_t>& shape) const;
    const std::string& prefix() const { return prefix_; }

private:
    const Checkpoint& ckpt_;
    const ModelConfig& cfg_;
    std::string prefix_;
};

// Checks that the model splits over `tp_size` ranks (heads and FFN columns divide). Throws otherwise.
void validate_tensor_parallel(const ModelConfig& cfg, int tp_size);

}  // namespace ls
