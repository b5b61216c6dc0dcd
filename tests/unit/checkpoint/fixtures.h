// Helpers for the checkpoint tests: a temporary directory, and byte-level builders for safetensors files, zip
// archives and torch state-dict pickles, so that every corrupt fixture is made in the test itself.
#pragma once
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/check.h"

namespace ls::test {

namespace fs = std::filesystem;

inline const std::string kModels = std::string(LOCKSTEP_SHARED_DIR) + "/models";

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "ls_ckpt_XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string str() const { return path.string(); }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

inline void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    REQUIRE(out.good());
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    REQUIRE(in.good());
    std::string out(size_t(in.tellg()), '\0');
    in.seekg(0);
    in.read(out.data(), std::streamsize(out.size()));
    REQUIRE(in.good());
    return out;
}

inline const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// Runs f and returns the ls::Error message it throws ("<no error>" when it does not throw).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const ls::Error& e) {
        return e.what();
    }
    return "<no error>";
}

#define CHECK_HAS(msg, sub) CHECK_MESSAGE((msg).find(sub) != std::string::npos, "message: ", (msg))

inline void put_le(std::string& out, uint64_t v, int n_bytes) {
    for (int k = 0; k < n_bytes; k++) out.push_back(char(uint8_t(v >> (8 * k))));
}

// A safetensors file: the header JSON as given (unpadded), then `data`.
inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
    std::string out;
    put_le(out, header.size(), 8);
    return out + header + data;
}

struct ZipEntry {
    std::string name;
    std::string data;
    uint16_t method = 0;
};

struct ZipLayout {
    bool zip64_fields = false;  // 0xffffffff placeholders in the central directory + ZIP64 extra fields
    bool zip64_eocd = true;     // ZIP64 end record and locator before the EOCD (torch always writes them)
    uint16_t local_pad = 0;     // extra-field bytes in local headers only, as torch uses to align data
};

std::string zip_bytes(const std::vector<ZipEntry>& entries, const ZipLayout& layout = {});

// One tensor of a torch state dict, as torch.save pickles it.
struct PickleTensor {
    std::string name;
    std::string storage_class = "FloatStorage";
    std::string key;
    int64_t storage_numel = 0;
    int64_t storage_offset = 0;
    std::vector<int64_t> size, stride;
    std::string rebuild_global = "torch._utils\n_rebuild_tensor_v2\n";  // overridable to inject a bad global
};

// A protocol-2 pickle of {name: tensor...}; with `ordered`, an OrderedDict carrying torch's `_metadata` (BUILD),
// plus values of every other supported kind inside that metadata.
std::string state_dict_pickle(const std::vector<PickleTensor>& tensors, bool ordered = false);

// A torch.save zip: <archive>/data.pkl, <archive>/data/<key> for each storage, <archive>/version.
std::string torch_zip(const std::string& archive, const std::string& pickle,
                      const std::vector<std::pair<std::string, std::string>>& storages, const ZipLayout& layout = {});

}  // namespace ls::test
