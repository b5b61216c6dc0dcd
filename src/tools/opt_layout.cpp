// OPT's checkpoint layout, written from transformers' OPTConfig / OPTDecoder and the facebook/opt-* configs.
#include "tools/opt_layout.h"

#include <map>

#include "core/check.h"

namespace ls {
namespace {

OptShape preset(int64_t d_model, int64_t n_layers, int64_t n_heads, int64_t d_embed, bool pre_ln) {
    OptShape s;
    s.d_model = d_model;
    s.n_layers = n_layers;
    s.n_heads = n_heads;
    s.d_ff = 4 * d_model;
    s.d_embed = d_embed;
    s.pre_ln = pre_ln;
    return s;
}

const std::map<std::string, OptShape>& presets() {
    // opt-350m is the odd one out: 512-wide embeddings projected to 1024, and post-LN blocks.
    static const std::map<std::string, OptShape> table = {
        {"opt-125m", preset(768, 12, 12, 768, true)},     {"opt-350m", preset(1024, 24, 16, 512, false)},
        {"opt-1.3b", preset(2048, 24, 32, 2048, true)},   {"opt-2.7b", preset(2560, 32, 32, 2560, true)},
        {"opt-6.7b", preset(4096, 32, 32, 4096, true)},   {"opt-13b", preset(5120, 40, 40, 5120, true)},
        {"opt-30b", preset(7168, 48, 56, 7168, true)},    {"opt-66b", preset(9216, 64, 72, 9216, true)},
    };
    return table;
}

// Bounds keep every byte count far from int64 overflow; the largest real OPT (175b) is 12288 wide.
constexpr int64_t kMaxWidth = int64_t(1) << 20;

void check_range(int64_t v, const char* flag, int64_t max) {
    ENSURE(v >= 1 && v <= max, flag, " must be in [1, ", max, "], got ", v);
}

constexpr TensorInit kMatrix{0.0f, 1.0f};     // normal(0, init_std), as OPT's _init_weights
constexpr TensorInit kBias{0.0f, 0.5f};       // small but non-zero, so biases matter in tests
constexpr TensorInit kNormWeight{1.0f, 1.0f};  // 1 + noise: not exactly the identity
constexpr TensorInit kNormBias{0.0f, 0.5f};

}  // namespace

const OptShape* find_opt_preset(const std::string& name) {
    auto it = presets().find(name);
    return it == presets().end() ? nullptr : &it->second;
}

std::vector<std::string> opt_preset_names() {
    // Listed by size rather than alphabetically (where opt-13b would precede opt-350m).
    return {"opt-125m", "opt-350m", "opt-1.3b", "opt-2.7b", "opt-6.7b", "opt-13b", "opt-30b", "opt-66b"};
}

void validate_opt_shape(const OptShape& s) {
    check_range(s.d_model, "--hidden", kMaxWidth);
    check_range(s.n_layers, "--layers", 4096);
    check_range(s.n_heads, "--heads", s.d_model);
    ENSURE(s.d_model % s.n_heads == 0, "--heads (", s.n_heads, ") must divide --hidden (", s.d_model, ")");
    check_range(s.d_ff, "--ffn", 4 * kMaxWidth);
    check_range(s.n_vocab, "--vocab", int64_t(1) << 24);
    check_range(s.max_positions, "--max-positions", kMaxWidth);
    check_range(s.d_embed, "--word-embed-proj-dim", kMaxWidth);
}

int64_t TensorSpec::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::vector<TensorSpec> opt_tensor_specs(const OptShape& s) {
    const std::string p = "model.decoder.";
    const int64_t h = s.d_model, e = s.d_embed, f = s.d_ff;
    std::vector<TensorSpec> t;
    t.push_back({p + "embed_tokens.weight", {s.n_vocab, e}, kMatrix});
    t.push_back({p + "embed_positions.weight", {s.max_positions + 2, h}, kMatrix});
    if (e != h) {  // nn.Linear(in, out, bias=False) stores [out, in]
        t.push_back({p + "project_out.weight", {e, h}, kMatrix});
        t.push_back({p + "project_in.weight", {h, e}, kMatrix});
    }
    if (s.pre_ln) {  // post-LN OPT ends with a layer's own final LN; transformers creates no decoder-level one
        t.push_back({p + "final_layer_norm.weight", {h}, kNormWeight});
        t.push_back({p + "final_layer_norm.bias", {h}, kNormBias});
    }
    for (int64_t i = 0; i < s.n_layers; ++i) {
        const std::string l = p + "layers." + std::to_string(i) + ".";
        for (const char* proj : {"k_proj", "v_proj", "q_proj", "out_proj"}) {
            t.push_back({l + "self_attn." + proj + ".weight", {h, h}, kMatrix});
            t.push_back({l + "self_attn." + proj + ".bias", {h}, kBias});
        }
        t.push_back({l + "self_attn_layer_norm.weight", {h}, kNormWeight});
        t.push_back({l + "self_attn_layer_norm.bias", {h}, kNormBias});
        t.push_back({l + "fc1.weight", {f, h}, kMatrix});
        t.push_back({l + "fc1.bias", {f}, kBias});
        t.push_back({l + "fc2.weight", {h, f}, kMatrix});
        t.push_back({l + "fc2.bias", {h}, kBias});
        t.push_back({l + "final_layer_norm.weight", {h}, kNormWeight});
        t.push_back({l + "final_layer_norm.bias", {h}, kNormBias});
    }
    return t;
}

nlohmann::json opt_config_json(const OptShape& s, const std::string& torch_dtype, double init_std,
                               const std::string& name_or_path) {
    // nlohmann::json keeps keys sorted, which is how transformers' to_json_string writes them.
    return {
        {"_name_or_path", name_or_path},
        {"_remove_final_layer_norm", false},
        {"activation_dropout", 0.0},
        {"activation_function", "relu"},
        {"architectures", nlohmann::json::array({"OPTForCausalLM"})},
        {"attention_dropout", 0.0},
        {"bos_token_id", 2},
        {"do_layer_norm_before", s.pre_ln},
        {"dropout", 0.1},
        {"enable_bias", true},
        {"eos_token_id", 2},
        {"ffn_dim", s.d_ff},
        {"hidden_size", s.d_model},
        {"init_std", init_std},
        {"layer_norm_elementwise_affine", true},
        {"layerdrop", 0.0},
        {"max_position_embeddings", s.max_positions},
        {"model_type", "opt"},
        {"num_attention_heads", s.n_heads},
        {"num_hidden_layers", s.n_layers},
        {"pad_token_id", 1},
        {"prefix", "</s>"},
        {"torch_dtype", torch_dtype},
        {"transformers_version", "4.33.0"},  // the config format we follow, as in ../shared/models
        {"use_cache", true},
        {"vocab_size", s.n_vocab},
        {"word_embed_proj_dim", s.d_embed},
    };
}

nlohmann::json opt_tokenizer_config_json() {
    return {
        {"add_bos_token", true}, {"add_prefix_space", false}, {"bos_token", "</s>"},
        {"eos_token", "</s>"},   {"errors", "replace"},       {"pad_token", "<pad>"},
        {"tokenizer_class", "GPT2Tokenizer"},                 {"unk_token", "</s>"},
    };
}

nlohmann::json opt_special_tokens_map_json() {
    return {{"bos_token", "</s>"}, {"eos_token", "</s>"}, {"pad_token", "<pad>"}, {"unk_token", "</s>"}};
}

}  // namespace ls
