// What a Hugging Face OPT checkpoint of a given shape contains: the published model sizes, the config.json
// that transformers writes for OPTForCausalLM, and the tensor names and shapes of its state dict.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ls {

// The hyper-parameters that fix an OPT checkpoint's tensors (names follow config/model_config.h).
struct OptShape {
    int64_t d_model = 0;        // hidden_size
    int64_t n_layers = 0;       // num_hidden_layers
    int64_t n_heads = 0;        // num_attention_heads
    int64_t d_ff = 0;           // ffn_dim
    int64_t n_vocab = 50272;    // vocab_size: the tokenizer's 50265 ids padded to a multiple of 8
    int64_t max_positions = 2048;  // max_position_embeddings; the table has 2 more rows (fairseq offset)
    int64_t d_embed = 0;        // word_embed_proj_dim; ≠ d_model adds project_in/project_out (opt-350m)
    bool pre_ln = true;         // do_layer_norm_before; false (post-LN) drops the final layer norm
};

// The sizes facebook/opt-* were released with: opt-125m … opt-66b. nullptr for an unknown name.
const OptShape* find_opt_preset(const std::string& name);
std::vector<std::string> opt_preset_names();

// Throws ls::Error naming the make-model flag at fault (e.g. "--heads (12) must divide --hidden (1000)").
void validate_opt_shape(const OptShape& s);

// How make-model fills a tensor: mean + std_scale · init_std · N(0, 1).
struct TensorInit {
    float mean;
    float std_scale;
};

struct TensorSpec {
    std::string name;            // full Hugging Face key, e.g. "model.decoder.layers.0.fc1.weight"
    std::vector<int64_t> shape;  // as PyTorch stores it: Linear weights are [out, in]
    TensorInit init;
    int64_t numel() const;
};

// The state dict in OPTForCausalLM's module order (embeddings, projections, final LN, then layer by layer),
// without lm_head.weight: it is tied to embed_tokens and Hugging Face does not save it.
std::vector<TensorSpec> opt_tensor_specs(const OptShape& s);

// config.json as transformers 4.3x writes it for OPTForCausalLM (keys sorted, as json.dumps(sort_keys=True)).
nlohmann::json opt_config_json(const OptShape& s, const std::string& torch_dtype, double init_std,
                               const std::string& name_or_path);

// tokenizer_config.json and special_tokens_map.json as facebook/opt-* ship them (</s> is BOS, EOS and UNK;
// add_bos_token makes transformers prepend </s>, as lockstep does).
nlohmann::json opt_tokenizer_config_json();
nlohmann::json opt_special_tokens_map_json();

}  // namespace ls
