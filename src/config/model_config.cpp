#include "config/model_config.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"

namespace ls {

namespace {

// A value for an error message. Containers are only named: dump() recurses, and a hostile config.json could nest
// arrays deep enough to overflow the stack (found by tests/fuzz).
std::string brief(const nlohmann::json& v) { return v.is_primitive() ? v.dump() : cat("<", v.type_name(), ">"); }

int get_int(const nlohmann::json& j, const char* key, const std::string& src, int fallback = -1) {
    if (!j.contains(key)) {
        ENSURE(fallback >= 0, src, ": missing field \"", key, "\"");
        return fallback;
    }
    const auto& v = j.at(key);
    ENSURE(v.is_number_integer(), src, ": field \"", key, "\" must be an integer, got ", brief(v));
    auto x = v.get<int64_t>();
    ENSURE(x > 0 && x < (int64_t(1) << 31), src, ": field \"", key, "\" = ", x, " is out of range");
    return int(x);
}

bool get_bool(const nlohmann::json& j, const char* key, const std::string& src, bool fallback) {
    if (!j.contains(key) || j.at(key).is_null()) return fallback;
    ENSURE(j.at(key).is_boolean(), src, ": field \"", key, "\" must be true or false, got ", brief(j.at(key)));
    return j.at(key).get<bool>();
}

// json::value() would throw nlohmann's type_error, naming neither the file nor the field, for a non-string.
std::string get_string(const nlohmann::json& j, const char* key, const std::string& src, const char* fallback) {
    if (!j.contains(key) || j.at(key).is_null()) return fallback;
    ENSURE(j.at(key).is_string(), src, ": field \"", key, "\" must be a string, got ", brief(j.at(key)));
    return j.at(key).get<std::string>();
}

// An optional token id, kept when it is an integer. It must fit in an int before the caller checks it against
// vocab_size: a plain conversion would wrap 4294967298 to the valid id 2.
void get_token_id(const nlohmann::json& j, const char* key, const std::string& src, int* id) {
    if (!j.contains(key) || !j.at(key).is_number_integer()) return;
    const auto& v = j.at(key);
    const bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(INT32_MAX)
                                             : v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX;
    ENSURE(fits, src, ": field \"", key, "\" = ", brief(v), " is out of range");
    *id = int(v.get<int64_t>());
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& src) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::exception& e) {
        raise(src, ": malformed JSON: ", e.what());
    }
    ENSURE(j.is_object(), src, ": expected a JSON object");
    ModelConfig c;
    c.source = src;
    ENSURE(j.contains("model_type") && j["model_type"].is_string(), src, ": missing field \"model_type\"");
    c.model_type = j["model_type"].get<std::string>();
    ENSURE(c.model_type == "opt", src, ": model_type \"", c.model_type,
           "\" is not supported (lockstep runs OPT models: model_type \"opt\")");
    c.torch_dtype = get_string(j, "torch_dtype", src, "float32");
    c.n_vocab = get_int(j, "vocab_size", src);
    c.d_model = get_int(j, "hidden_size", src);
    c.n_heads = get_int(j, "num_attention_heads", src);
    c.n_layers = get_int(j, "num_hidden_layers", src);
    c.d_ff = get_int(j, "ffn_dim", src);
    c.max_positions = get_int(j, "max_position_embeddings", src);
    c.d_embed = get_int(j, "word_embed_proj_dim", src, c.d_model);
    c.pre_ln = get_bool(j, "do_layer_norm_before", src, true);
    c.final_layer_norm = c.pre_ln && !get_bool(j, "_remove_final_layer_norm", src, false);
    get_token_id(j, "bos_token_id", src, &c.bos_id);
    get_token_id(j, "eos_token_id", src, &c.eos_id);
    get_token_id(j, "pad_token_id", src, &c.pad_id);

    const std::string act = get_string(j, "activation_function", src, "relu");
    ENSURE(act == "relu", src, ": activation_function \"", act, "\" is not supported (OPT uses relu)");
    ENSURE(get_bool(j, "enable_bias", src, true), src, ": enable_bias=false is not supported");
    ENSURE(get_bool(j, "layer_norm_elementwise_affine", src, true), src,
           ": layer_norm_elementwise_affine=false is not supported");
    ENSURE(c.d_model % c.n_heads == 0, src, ": hidden_size ", c.d_model, " is not divisible by num_attention_heads ",
           c.n_heads);
    for (int id : {c.bos_id, c.eos_id, c.pad_id})
        ENSURE(id >= 0 && id < c.n_vocab, src, ": special token id ", id, " is outside vocab_size ", c.n_vocab);
    return c;
}

ModelConfig load_model_config(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    ENSURE(fs::exists(path, ec), "model path ", path, " does not exist");
    std::string file = fs::is_directory(path, ec) ? (fs::path(path) / "config.json").string() : path;
    std::ifstream in(file);
    ENSURE(in.good(), file, ": cannot read (a Hugging Face model directory has a config.json)");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_model_config(ss.str(), file);
}

}  // namespace ls
