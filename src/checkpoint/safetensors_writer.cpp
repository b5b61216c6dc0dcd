#include "checkpoint/safetensors_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "core/check.h"

namespace ls {

namespace {

// RAII for the temporary file: closes it, and removes it unless the rename went through.
struct TmpFile {
    std::string path;
    FILE* f = nullptr;
    bool keep = false;
    ~TmpFile() {
        if (f) std::fclose(f);
        if (!keep) std::remove(path.c_str());
    }
};

void write_all(TmpFile& tmp, const void* p, size_t n, const std::string& path) {
    if (n > 0 && std::fwrite(p, 1, n, tmp.f) != n) raise(path, ": write failed: ", std::strerror(errno));
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    // ordered_json keeps the tensors in the caller's order, matching their order in the data section.
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        nlohmann::ordered_json m = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata) m[k] = v;
        header["__metadata__"] = m;
    }
    std::set<std::string> seen;
    std::vector<uint64_t> nbytes;
    uint64_t offset = 0;
    for (const NamedTensor& t : tensors) {
        ENSURE(!t.name.empty() && t.name != "__metadata__", path, ": invalid tensor name '", t.name, "'");
        ENSURE(seen.insert(t.name).second, path, ": tensor '", t.name, "' given twice");
        uint64_t n = dtype_size(t.dtype);
        for (int64_t d : t.shape) {
            ENSURE(d >= 0, path, ": tensor '", t.name, "' has a negative dimension");
            ENSURE(!__builtin_mul_overflow(n, uint64_t(d), &n), path, ": tensor '", t.name, "' is too large");
        }
        ENSURE(n == 0 || t.data != nullptr, path, ": tensor '", t.name, "' has no data");
        header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
        nbytes.push_back(n);
        offset += n;
    }

    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception& e) {  // e.g. a name that is not valid UTF-8
        raise(path, ": cannot encode the header: ", e.what());
    }
    text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
    uint8_t len[8];
    for (int k = 0; k < 8; k++) len[k] = uint8_t(uint64_t(text.size()) >> (8 * k));

    TmpFile tmp{path + ".tmp"};
    tmp.f = std::fopen(tmp.path.c_str(), "wb");
    ENSURE(tmp.f, path, ": cannot create ", tmp.path, ": ", std::strerror(errno));
    write_all(tmp, len, 8, path);
    write_all(tmp, text.data(), text.size(), path);
    for (size_t k = 0; k < tensors.size(); k++) write_all(tmp, tensors[k].data, size_t(nbytes[k]), path);
    const int rc = std::fclose(tmp.f);
    tmp.f = nullptr;
    ENSURE(rc == 0, path, ": write failed: ", std::strerror(errno));
    ENSURE(std::rename(tmp.path.c_str(), path.c_str()) == 0, path, ": cannot rename ", tmp.path, " to it: ",
           std::strerror(errno));
    tmp.keep = true;
}

}  // namespace ls
