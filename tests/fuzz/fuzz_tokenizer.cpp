// The OPT tokenizer (assets/opt-tokenizer, loaded once) on arbitrary bytes: encode must never fail, its ids must
// be in the vocab, and decode(encode(x)) must give x back (with invalid UTF-8 replaced, as Python's
// errors="replace"). The input read as int32 ids, out-of-range ones included, must also decode.
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/utf8.h"

namespace {
std::optional<ls::BpeTokenizer> g_tok;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const std::string dir = LOCKSTEP_TOKENIZER_DIR;
    g_tok.emplace(ls::BpeTokenizer::load(dir + "/vocab.json", dir + "/merges.txt"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const ls::BpeTokenizer& tok = *g_tok;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<int32_t> ids;
    FUZZ_ASSERT(ls::fuzz::accepts([&] { ids = tok.encode(text); }));
    for (int32_t id : ids) FUZZ_ASSERT(id >= 0 && !tok.id_to_token(id).empty());
    FUZZ_ASSERT(ids.size() <= size);
    FUZZ_ASSERT(tok.decode(ids) == ls::to_valid_utf8(text));

    std::vector<int32_t> raw(size / 4);
    if (!raw.empty()) std::memcpy(raw.data(), data, raw.size() * 4);
    const std::string out = tok.decode(raw);
    FUZZ_ASSERT(ls::to_valid_utf8(out) == out);
    tok.token_to_id(text);
    return 0;
}
