// Loading a tokenizer from fuzzed files. The input is vocab.json NUL merges.txt [NUL special_tokens_map.json]
// (a missing part is an empty file; without a third part there is no special_tokens_map.json). They go to files
// in a scratch directory, because the readers take paths. A tokenizer that loads must then encode and decode.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "tokenizer/bpe_files.h"
#include "tokenizer/bpe_tokenizer.h"

namespace {
namespace fs = std::filesystem;
std::string g_dir;

void write(const std::string& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    FUZZ_ASSERT(out.good());
}

// The part of `in` before the next NUL after `pos` (to the end when there is none); pos moves past that NUL.
std::string_view next_part(std::string_view in, size_t& pos) {
    if (pos > in.size()) return {};
    const size_t nul = std::min(in.find('\0', pos), in.size());
    const std::string_view part = in.substr(pos, nul - pos);
    pos = nul + 1;
    return part;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    std::string tmpl = (base / "ls_fuzz_tok_XXXXXX").string();
    FUZZ_ASSERT(::mkdtemp(tmpl.data()) != nullptr);
    g_dir = tmpl;
    std::atexit([] {
        std::error_code ec;
        fs::remove_all(g_dir, ec);
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    size_t pos = 0;
    write(g_dir + "/vocab.json", next_part(in, pos));
    write(g_dir + "/merges.txt", next_part(in, pos));
    const std::string specials_path = g_dir + "/special_tokens_map.json";
    if (pos <= in.size()) {
        write(specials_path, next_part(in, pos));
    } else {
        std::error_code ec;
        fs::remove(specials_path, ec);
    }
    std::vector<std::string> specials;
    ls::fuzz::accepts([&] { specials = ls::read_special_tokens(g_dir); });
    ls::fuzz::accepts([&] {
        const ls::BpeTokenizer tok = ls::BpeTokenizer::load(g_dir + "/vocab.json", g_dir + "/merges.txt", specials);
        for (std::string_view text : {std::string_view("hello world </s> it's 2024!\n\xff"), in}) {
            const std::vector<int32_t> ids = tok.encode(text);
            for (int32_t id : ids) FUZZ_ASSERT(id >= 0);
            tok.decode(ids);
        }
    });
    return 0;
}
