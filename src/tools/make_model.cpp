// `lockstep make-model`: flags → OptShape → config.json, tokenizer files and random weights, shard by shard.
// Peak memory is one shard (the whole model without --max-shard-size): write_safetensors takes a shard's
// tensors at once, and each shard is generated, written and freed before the next.
#include "tools/make_model.h"
#include "tools/cli_flags.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <thread>
#include <vector>

#include "checkpoint/safetensors_writer.h"
#include "core/check.h"
#include "tools/opt_layout.h"
#include "tools/random_fill.h"

namespace ls {
namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

struct MakeModelOptions {
    std::string out_dir;
    std::string name;  // the preset, or "custom"
    OptShape shape;
    DType dtype = DType::F16;
    std::string torch_dtype = "float16";
    uint64_t seed = 0;
    double init_std = 0.02;
    uint64_t max_shard_bytes = 0;  // 0: one model.safetensors
    std::string tokenizer_dir;
};

// A bad command line: reported with exit code 2, as every lockstep subcommand does.
struct UsageError : Error {
    using Error::Error;
};

template <class... A>
[[noreturn]] void usage_error(const A&... a) {
    throw UsageError(cat(a...));
}

// "2GB" → 2·10^9, "500MiB" → 500·2^20, "1.5GB", or a plain byte count; units as transformers'
// max_shard_size spells them (decimal KB/MB/GB/TB, binary KiB/MiB/GiB/TiB), case-insensitive.
uint64_t parse_byte_size(const std::string& text) {
    double value = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || p == text.data()) usage_error("--max-shard-size: cannot read a size from '", text, "'");
    const std::string unit(p, end);
    std::string lower = unit;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    static const std::pair<const char*, double> units[] = {
        {"", 1},      {"b", 1},          {"kb", 1e3},       {"mb", 1e6},       {"gb", 1e9},
        {"tb", 1e12}, {"kib", 0x1p10},   {"mib", 0x1p20},   {"gib", 0x1p30},   {"tib", 0x1p40},
    };
    for (const auto& [name, scale] : units) {
        if (lower != name) continue;
        const double bytes = value * scale;
        if (!(bytes >= 1.0 && bytes < 0x1p62)) usage_error("--max-shard-size must be positive, got '", text, "'");
        return uint64_t(bytes);
    }
    usage_error("--max-shard-size: unknown unit '", unit, "' in '", text, "' (use B, KB, MB, GB, KiB, MiB or GiB)");
}

uint64_t parse_seed(const std::string& text) {
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size())
        usage_error("--seed must be an unsigned 64-bit integer, got '", text, "'");
    return v;
}

po::options_description flag_descriptions() {
    std::string presets;
    for (const auto& n : opt_preset_names()) presets += (presets.empty() ? "" : ", ") + n;
    po::options_description d(
        "lockstep make-model: write a Hugging Face OPT checkpoint with random weights.\n"
        "Shape flags given with --preset override the preset's values");
    d.add_options()
        ("help,h", "print this help")
        ("out", po::value<std::string>(), "output directory (required; created if missing)")
        ("preset", po::value<std::string>(), ("published OPT shape: " + presets).c_str())
        ("hidden", po::value<int64_t>(), "hidden_size (required without --preset)")
        ("layers", po::value<int64_t>(), "num_hidden_layers (required without --preset)")
        ("heads", po::value<int64_t>(), "num_attention_heads; must divide --hidden (required without --preset)")
        ("ffn", po::value<int64_t>(), "ffn_dim (default 4 x hidden)")
        ("vocab", po::value<int64_t>(), "vocab_size (default 50272)")
        ("max-positions", po::value<int64_t>(), "max_position_embeddings (default 2048)")
        ("word-embed-proj-dim", po::value<int64_t>(), "word_embed_proj_dim (default hidden; opt-350m: 512)")
        ("post-ln", "post-LN blocks (do_layer_norm_before=false, as opt-350m)")
        ("dtype", po::value<std::string>()->default_value("float16"), "float32, float16 or bfloat16")
        ("seed", po::value<std::string>()->default_value("0"), "random seed of the weights")
        ("std", po::value<double>()->default_value(0.02), "init std of the weight matrices")
        ("max-shard-size", po::value<std::string>(),
         "split the weights into model-0000i-of-0000N.safetensors of at most this size (e.g. 2GB, 500MiB)")
        ("tokenizer", po::value<std::string>()->default_value(LOCKSTEP_ASSETS_DIR "/opt-tokenizer"),
         "directory holding vocab.json and merges.txt");
    return d;
}

// Shape: the preset (if any), then every explicit flag on top of it.
OptShape shape_from_flags(const po::variables_map& vm, std::string& name) {
    OptShape s;
    name = "custom";
    if (vm.count("preset")) {
        name = vm["preset"].as<std::string>();
        const OptShape* p = find_opt_preset(name);
        if (!p) usage_error("--preset: unknown model '", name, "' (see --help for the list)");
        s = *p;
    } else {
        for (const char* flag : {"hidden", "layers", "heads"})
            if (!vm.count(flag)) usage_error("--", flag, " is required without --preset");
    }
    auto take = [&](const char* flag, int64_t& field) {
        if (vm.count(flag)) field = vm[flag].as<int64_t>();
    };
    take("hidden", s.d_model);
    take("layers", s.n_layers);
    take("heads", s.n_heads);
    take("vocab", s.n_vocab);
    take("max-positions", s.max_positions);
    if (!vm.count("preset")) {  // defaults that follow the width
        s.d_ff = 4 * s.d_model;
        s.d_embed = s.d_model;
    }
    take("ffn", s.d_ff);
    take("word-embed-proj-dim", s.d_embed);
    if (vm.count("post-ln")) s.pre_ln = false;
    return s;
}

// Returns nullopt after printing --help.
std::optional<MakeModelOptions> parse_flags(int argc, char** argv) {
    const po::options_description desc = flag_descriptions();
    ParsedFlags flags;
    try {
        flags = parse_flags_with_strays(std::vector<std::string>(argv + 1, argv + argc), desc);
        po::notify(flags.vm);
    } catch (const po::error& e) {
        usage_error(e.what());
    }
    const po::variables_map& vm = flags.vm;
    if (!flags.strays.empty()) usage_error("unexpected argument '", flags.strays[0], "'");
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return std::nullopt;
    }

    MakeModelOptions o;
    if (!vm.count("out")) usage_error("--out is required");
    o.out_dir = vm["out"].as<std::string>();
    o.shape = shape_from_flags(vm, o.name);
    try {
        validate_opt_shape(o.shape);
    } catch (const Error& e) {
        usage_error(e.what());
    }
    o.torch_dtype = vm["dtype"].as<std::string>();
    if (o.torch_dtype == "float32") o.dtype = DType::F32;
    else if (o.torch_dtype == "float16") o.dtype = DType::F16;
    else if (o.torch_dtype == "bfloat16") o.dtype = DType::BF16;
    else usage_error("--dtype must be float32, float16 or bfloat16, got '", o.torch_dtype, "'");
    o.seed = parse_seed(vm["seed"].as<std::string>());
    o.init_std = vm["std"].as<double>();
    if (!(std::isfinite(o.init_std) && o.init_std > 0.0 && o.init_std <= 1.0))
        usage_error("--std must be in (0, 1], got ", o.init_std);
    if (vm.count("max-shard-size")) o.max_shard_bytes = parse_byte_size(vm["max-shard-size"].as<std::string>());

    o.tokenizer_dir = vm["tokenizer"].as<std::string>();
    for (const char* f : {"vocab.json", "merges.txt"})
        if (!fs::is_regular_file(fs::path(o.tokenizer_dir) / f))
            usage_error("--tokenizer: '", o.tokenizer_dir, "' has no ", f);
    std::error_code ec;
    if (fs::exists(o.out_dir, ec) && !fs::is_directory(o.out_dir, ec))
        usage_error("--out: '", o.out_dir, "' exists and is not a directory");
    return o;
}

// transformers' rule: start a new shard when the next tensor would push this one past the limit (a tensor
// larger than the limit gets a shard of its own). Returns tensor indices per shard.
std::vector<std::vector<size_t>> plan_shards(const std::vector<TensorSpec>& specs, size_t esize, uint64_t max) {
    std::vector<std::vector<size_t>> shards(1);
    uint64_t used = 0;
    for (size_t i = 0; i < specs.size(); ++i) {
        const uint64_t bytes = uint64_t(specs[i].numel()) * esize;
        if (max > 0 && !shards.back().empty() && used + bytes > max) {
            shards.emplace_back();
            used = 0;
        }
        shards.back().push_back(i);
        used += bytes;
    }
    return shards;
}

std::string shard_file_name(size_t i, size_t n) {
    if (n == 1) return "model.safetensors";
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
    return buf;
}

// Generates one shard's tensors into one buffer and writes them, sorted by name as safetensors'
// save_file orders them.
void write_shard(const std::string& path, const std::vector<TensorSpec>& specs, std::vector<size_t> members,
                 const MakeModelOptions& o, int n_threads) {
    const size_t esize = dtype_size(o.dtype);
    std::sort(members.begin(), members.end(), [&](size_t a, size_t b) { return specs[a].name < specs[b].name; });
    uint64_t total = 0;
    for (size_t i : members) total += uint64_t(specs[i].numel()) * esize;
    std::unique_ptr<uint8_t[]> buffer(new uint8_t[std::max<uint64_t>(total, 1)]);  // not zeroed: all overwritten

    std::vector<NamedTensor> tensors;
    uint64_t offset = 0;
    for (size_t i : members) {
        const TensorSpec& t = specs[i];
        const NormalFill fill{tensor_key(o.seed, t.name), t.init.mean, float(o.init_std * t.init.std_scale)};
        fill_normal(buffer.get() + offset, o.dtype, t.numel(), fill, n_threads);
        tensors.push_back({t.name, o.dtype, t.shape, buffer.get() + offset});
        offset += uint64_t(t.numel()) * esize;
    }
    write_safetensors(path, tensors, {{"format", "pt"}});
}

void write_json(const fs::path& path, const nlohmann::json& j) {
    std::ofstream f(path);
    f << j.dump(2) << "\n";
    f.close();
    ENSURE(f, path.string(), ": write failed");
}

// Removes weight files a previous run left, so that the directory never mixes two layouts (a stale index
// next to a new model.safetensors would make Checkpoint::open read the old shards).
void remove_stale_weights(const fs::path& dir) {
    static const std::regex shard(R"(model-\d{5}-of-\d{5}\.safetensors)");
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string n = entry.path().filename().string();
        if (n == "model.safetensors" || n == "model.safetensors.index.json" || std::regex_match(n, shard))
            fs::remove(entry.path());
    }
}

void copy_tokenizer(const MakeModelOptions& o, const fs::path& out) {
    const fs::path src = o.tokenizer_dir;
    for (const char* f : {"vocab.json", "merges.txt"})
        fs::copy_file(src / f, out / f, fs::copy_options::overwrite_existing);
    // The two special-token files are optional in a tokenizer folder; OPT's own are written when missing.
    if (fs::is_regular_file(src / "tokenizer_config.json"))
        fs::copy_file(src / "tokenizer_config.json", out / "tokenizer_config.json",
                      fs::copy_options::overwrite_existing);
    else
        write_json(out / "tokenizer_config.json", opt_tokenizer_config_json());
    if (fs::is_regular_file(src / "special_tokens_map.json"))
        fs::copy_file(src / "special_tokens_map.json", out / "special_tokens_map.json",
                      fs::copy_options::overwrite_existing);
    else
        write_json(out / "special_tokens_map.json", opt_special_tokens_map_json());
}

void make_model(const MakeModelOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    const fs::path out = o.out_dir;
    fs::create_directories(out);
    remove_stale_weights(out);

    const std::vector<TensorSpec> specs = opt_tensor_specs(o.shape);
    const size_t esize = dtype_size(o.dtype);
    const auto shards = plan_shards(specs, esize, o.max_shard_bytes);
    const int n_threads = int(std::max(1u, std::thread::hardware_concurrency()));

    nlohmann::json weight_map = nlohmann::json::object();
    for (size_t s = 0; s < shards.size(); ++s) {
        const std::string file = shard_file_name(s, shards.size());
        write_shard((out / file).string(), specs, shards[s], o, n_threads);
        for (size_t i : shards[s]) weight_map[specs[i].name] = file;
    }
    int64_t n_params = 0;
    for (const auto& t : specs) n_params += t.numel();
    const uint64_t n_bytes = uint64_t(n_params) * esize;
    if (shards.size() > 1)
        write_json(out / "model.safetensors.index.json",
                   {{"metadata", {{"total_size", n_bytes}}}, {"weight_map", weight_map}});
    write_json(out / "config.json", opt_config_json(o.shape, o.torch_dtype, o.init_std, "lockstep/" + o.name));
    copy_tokenizer(o, out);

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char line[512];
    std::snprintf(line, sizeof line,
                  "make-model: %s (hidden %lld, layers %lld, heads %lld, ffn %lld, %s): %lld parameters, "
                  "%.2f GB (%llu bytes) in %zu file%s, %.1f s -> ",
                  o.name.c_str(), (long long)o.shape.d_model, (long long)o.shape.n_layers,
                  (long long)o.shape.n_heads, (long long)o.shape.d_ff, o.torch_dtype.c_str(), (long long)n_params,
                  double(n_bytes) * 1e-9, (unsigned long long)n_bytes, shards.size(),
                  shards.size() == 1 ? "" : "s", seconds);
    std::cerr << line << out.string() << "\n";
}

}  // namespace

int make_model_main(int argc, char** argv) {
    std::optional<MakeModelOptions> o;
    try {
        o = parse_flags(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "make-model: " << e.what() << " (see make-model --help)\n";
        return 2;
    }
    if (!o) return 0;
    try {
        make_model(*o);
    } catch (const std::exception& e) {  // ls::Error from the writer, std::filesystem_error, std::bad_alloc
        std::cerr << "make-model: error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace ls
