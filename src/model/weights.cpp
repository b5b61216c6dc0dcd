#include "model/weights.h"

#include "core/check.h"

namespace ls {

namespace {
std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); i++) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}
}  // namespace

OptWeightNames::OptWeightNames(const Checkpoint& ckpt, const ModelConfig& cfg) : ckpt_(ckpt), cfg_(cfg) {
    for (const char* p : {"model.decoder.", "decoder.", ""}) {
        if (ckpt.find(std::string(p) + "embed_tokens.weight")) {
            prefix_ = p;
            return;
        }
    }
    raise(ckpt.dir(), ": no OPT embedding table (model.decoder.embed_tokens.weight) in the ", ckpt.format(),
          " checkpoint");
}

const TensorInfo& OptWeightNames::get(const std::string& suffix, const std::vector<int64_t>& shape) const {
    const std::string name = prefix_ + suffix;
    const TensorInfo* t = ckpt_.find(name);
    ENSURE(t != nullptr, ckpt_.dir(), ": tensor '", name, "' is missing from the checkpoint (config ", cfg_.source,
           ": ", cfg_.n_layers, " layers, hidden_size ", cfg_.d_model, ")");
    ENSURE(t->shape == shape, t->file, ": tensor '", name, "' has shape ", shape_str(t->shape), " but ",
           cfg_.source, " implies ", shape_str(shape));
    ENSURE(t->dtype == DType::F32 || t->dtype == DType::F16 || t->dtype == DType::BF16, t->file, ": tensor '", name,
           "' has dtype ", dtype_name(t->dtype), "; weights must be F32, F16 or BF16");
    return *t;
}

void validate_tensor_parallel(const ModelConfig& cfg, int tp_size) {
    ENSURE(cfg.n_heads % tp_size == 0, "--tensor-parallel-size ", tp_size, " does not divide num_attention_heads ",
           cfg.n_heads, " (", cfg.source, "): each rank must hold whole attention heads");
    ENSURE(cfg.d_ff % tp_size == 0, "--tensor-parallel-size ", tp_size, " does not divide ffn_dim ", cfg.d_ff, " (",
           cfg.source, ")");
}

}  // namespace ls
