// OPT hyper-parameters from a checkpoint's config.json, validated in one place.
#pragma once
#include <string>

namespace ls {

struct ModelConfig {
    std::string source;       // path of the config.json it came from (for error messages)
    std::string model_type;   // "opt"
    std::string torch_dtype;  // as written in config.json ("float16", "float32", ...)
    int n_vocab = 0;          // vocab_size
    int d_model = 0;          // hidden_size
    int d_embed = 0;          // word_embed_proj_dim (≠ d_model → project_in/project_out, as opt-350m)
    int n_heads = 0;          // num_attention_heads
    int n_layers = 0;         // num_hidden_layers
    int d_ff = 0;             // ffn_dim
    int max_positions = 0;    // max_position_embeddings (the table has max_positions + 2 rows)
    bool pre_ln = true;       // do_layer_norm_before
    bool final_layer_norm = true;  // pre-LN and not _remove_final_layer_norm
    int bos_id = 2, eos_id = 2, pad_id = 1;

    int d_head() const { return d_model / n_heads; }
    bool has_projection() const { return d_embed != d_model; }
};

// OPT's learned position table starts at row 2 (fairseq's padding offset): position p uses row p + 2.
constexpr int kOptPositionOffset = 2;
constexpr float kOptLayerNormEps = 1e-5f;

// `path` is a model directory or a config.json. Throws ls::Error naming the file and the field at fault.
ModelConfig load_model_config(const std::string& path);
ModelConfig parse_model_config(const std::string& json_text, const std::string& source);

}  // namespace ls
