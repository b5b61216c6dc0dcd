#include "checkpoint/checkpoint.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "checkpoint/mapped_file.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/torch_bin.h"
#include "core/check.h"

namespace ls {

namespace fs = std::filesystem;

namespace {

struct TensorTable {
    std::string dir;
    std::map<std::string, TensorInfo> tensors;  // by name, so names() comes out sorted
    std::map<std::string, MappedFile> files;    // by path; mapped once at open(), kept for read_f32
};

}  // namespace

struct Checkpoint::Impl {
    TensorTable table;
    std::string format;  // "safetensors" or "pytorch_bin"
    std::atomic<uint64_t> bytes_read{0};
};

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t k = 0; k < s.size(); k++) out += (k ? ", " : "") + std::to_string(s[k]);
    return out + "]";
}

void check_dir(const std::string& dir) {
    std::error_code ec;
    const fs::file_status st = fs::status(dir, ec);
    ENSURE(fs::exists(st), "model directory '", dir, "' does not exist");
    ENSURE(fs::is_directory(st), "model directory '", dir, "' is not a directory");
    ENSURE(::access(dir.c_str(), R_OK | X_OK) == 0, "model directory '", dir, "' is not readable: ",
           std::strerror(errno));
}

bool is_file(const std::string& path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec);
}

// weight_map of a *.index.json: tensor name → shard file name (a plain name inside the model directory).
std::map<std::string, std::string> read_index(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    ENSURE(in, path, ": cannot read: ", std::strerror(errno));
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text.str());
    } catch (const nlohmann::json::exception& e) {
        raise(path, ": not valid JSON: ", e.what());
    }
    ENSURE(j.is_object(), path, ": expected a JSON object with a \"weight_map\"");
    auto wm = j.find("weight_map");
    ENSURE(wm != j.end() && wm->is_object(), path, ": missing \"weight_map\" object");
    std::map<std::string, std::string> out;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
        ENSURE(it->is_string(), path, ": weight_map entry for '", it.key(), "' is not a file name string");
        const std::string shard = it->get<std::string>();
        // Shards sit beside the index; a path here could only point outside the checkpoint.
        ENSURE(!shard.empty() && shard != "." && shard != ".." && shard.find('/') == std::string::npos, path,
               ": weight_map entry for '", it.key(), "' names '", shard, "', which is not a plain file name");
        out[it.key()] = shard;
    }
    ENSURE(!out.empty(), path, ": weight_map is empty");
    return out;
}

// Maps one weights file and adds its tensors to the table; a name already there (from another shard) is an error.
void add_file(TensorTable& table, const std::string& path, bool safetensors) {
    MappedFile f(path);
    const std::vector<TensorInfo> found = safetensors
                                              ? parse_safetensors_header(f.data(), size_t(f.size()), f.size(), path)
                                              : parse_torch_zip(f.data(), size_t(f.size()), path);
    for (const TensorInfo& t : found) {
        auto [it, fresh] = table.tensors.emplace(t.name, t);
        ENSURE(fresh, table.dir, ": tensor '", t.name, "' appears twice: in ", it->second.file, " and in ", path);
    }
    table.files.emplace(path, std::move(f));
}

void add_sharded(TensorTable& table, const std::string& index_path, bool safetensors) {
    const std::map<std::string, std::string> weight_map = read_index(index_path);
    std::set<std::string> shards;
    for (const auto& [name, shard] : weight_map) shards.insert(shard);
    for (const std::string& shard : shards) {
        const std::string path = (fs::path(table.dir) / shard).string();
        ENSURE(is_file(path), index_path, ": names shard '", shard, "', which does not exist in ", table.dir);
        add_file(table, path, safetensors);
    }
    for (const auto& [name, shard] : weight_map) {
        const std::string path = (fs::path(table.dir) / shard).string();
        auto it = table.tensors.find(name);
        const std::string actual = it == table.tensors.end() ? "no shard holds it" : "it is in " + it->second.file;
        ENSURE(it != table.tensors.end() && it->second.file == path, index_path, ": lists tensor '", name, "' in ",
               shard, " but ", actual);
    }
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& model_dir) {
    check_dir(model_dir);
    auto impl = std::make_unique<Impl>();
    TensorTable& table = impl->table;
    table.dir = model_dir;
    const auto at = [&](const char* name) { return (fs::path(model_dir) / name).string(); };

    // The order Hugging Face's from_pretrained uses: safetensors before pickles, a single file before an index.
    if (is_file(at("model.safetensors"))) {
        add_file(table, at("model.safetensors"), true);
        impl->format = "safetensors";
    } else if (is_file(at("model.safetensors.index.json"))) {
        add_sharded(table, at("model.safetensors.index.json"), true);
        impl->format = "safetensors";
    } else if (is_file(at("pytorch_model.bin"))) {
        add_file(table, at("pytorch_model.bin"), false);
        impl->format = "pytorch_bin";
    } else if (is_file(at("pytorch_model.bin.index.json"))) {
        add_sharded(table, at("pytorch_model.bin.index.json"), false);
        impl->format = "pytorch_bin";
    } else {
        raise(model_dir, ": no weights file found (looked for model.safetensors, model.safetensors.index.json, "
                         "pytorch_model.bin, pytorch_model.bin.index.json)");
    }
    return Checkpoint(std::move(impl));
}

Checkpoint::Checkpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() = default;

const std::string& Checkpoint::dir() const { return impl_->table.dir; }
const std::string& Checkpoint::format() const { return impl_->format; }

const TensorInfo* Checkpoint::find(const std::string& name) const {
    auto it = impl_->table.tensors.find(name);
    return it == impl_->table.tensors.end() ? nullptr : &it->second;
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> out;
    out.reserve(impl_->table.tensors.size());
    for (const auto& [name, t] : impl_->table.tensors) out.push_back(name);
    return out;
}

uint64_t Checkpoint::bytes_read() const { return impl_->bytes_read.load(); }

void Checkpoint::read_f32(const TensorInfo& t, int64_t row0, int64_t row1, int64_t col0, int64_t col1,
                          float* dst) const {
    read(t, row0, row1, col0, col1, DType::F32, dst);
}

void Checkpoint::read(const TensorInfo& t, int64_t row0, int64_t row1, int64_t col0, int64_t col1, DType as,
                      void* dst) const {
    const std::string where = cat(t.file, ": tensor '", t.name, "': ");
    // Only this checkpoint's entries were validated against their files, so a caller's copy must match one.
    const TensorInfo* mine = find(t.name);
    ENSURE(mine && mine->file == t.file && mine->offset == t.offset && mine->dtype == t.dtype &&
               mine->shape == t.shape,
           where, "is not a tensor of the checkpoint in ", impl_->table.dir);
    ENSURE(t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16, where, "dtype ",
           dtype_name(t.dtype), " cannot be read as float32 (only F32, F16, BF16)");
    ENSURE(as == DType::F32 || as == DType::F16 || as == DType::BF16, where, "cannot be read as ", dtype_name(as),
           " (only F32, F16, BF16)");
    int64_t rows = 1, cols = 1;  // a 0-D scalar reads as [1, 1]
    if (t.shape.size() == 1) cols = t.shape[0];
    if (t.shape.size() == 2) rows = t.shape[0], cols = t.shape[1];
    ENSURE(t.shape.size() <= 2, where, "shape ", shape_str(t.shape), " is ", t.shape.size(),
           "-D; read_f32 reads 1-D and 2-D tensors");
    ENSURE(0 <= row0 && row0 <= row1 && row1 <= rows && 0 <= col0 && col0 <= col1 && col1 <= cols, where, "rows [",
           row0, ", ", row1, ") x columns [", col0, ", ", col1, ") fall outside its ", rows, " x ", cols,
           " elements (shape ", shape_str(t.shape), ")");
    if (row0 == row1 || col0 == col1) return;

    const MappedFile& f = impl_->table.files.at(mine->file);
    const size_t esize = dtype_size(t.dtype), out_size = dtype_size(as);
    const size_t n = size_t(col1 - col0);
    auto* out = static_cast<uint8_t*>(dst);
    const uint8_t* base = f.data() + mine->offset;
    if (as == t.dtype && col0 == 0 && col1 == cols) {
        // The rows are one contiguous run of the file: a single copy (loading is this, at the file's speed).
        std::memcpy(out, base + uint64_t(row0) * uint64_t(cols) * esize, size_t(row1 - row0) * n * esize);
    } else {
        std::vector<uint8_t> bounce;  // convert_to_f32 reads whole elements; a hand-made file may misalign them
        std::vector<float> wide(as == DType::F32 || as == t.dtype ? 0 : n);
        for (int64_t r = row0; r < row1; r++) {
            const uint8_t* src = base + (uint64_t(r) * uint64_t(cols) + uint64_t(col0)) * esize;
            uint8_t* row_out = out + size_t(r - row0) * n * out_size;
            if (as == t.dtype) {
                std::memcpy(row_out, src, n * esize);
                continue;
            }
            if (reinterpret_cast<uintptr_t>(src) % esize != 0) {
                bounce.assign(src, src + n * esize);
                src = bounce.data();
            }
            if (as == DType::F32) {
                convert_to_f32(src, t.dtype, reinterpret_cast<float*>(row_out), n);
            } else {
                convert_to_f32(src, t.dtype, wide.data(), n);
                convert_from_f32(wide.data(), as, row_out, n);
            }
        }
    }
    impl_->bytes_read += uint64_t(row1 - row0) * n * esize;
}

}  // namespace ls
