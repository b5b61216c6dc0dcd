// Readers for the two files of a byte-level BPE tokenizer: vocab.json (Hugging Face) or encoder.json (OpenAI),
// a flat JSON object of token string → id; and merges.txt or vocab.bpe, one "left right" pair a line, optionally
// under a "#version: ..." header, where the line order is the merge priority.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ls {

struct VocabEntry {
    std::string token;  // spelled in the byte_unicode.h code points, e.g. "Ġworld"
    int32_t id;
};

struct MergeRule {
    std::string left, right;  // rank = index in the returned vector
};

// In file order. Throws ls::Error naming the file (missing, malformed JSON, an id that is not a small integer).
std::vector<VocabEntry> read_vocab_json(const std::string& path);

// Throws ls::Error naming the file, and the line of a malformed merge ("path:17: malformed merge line ...").
std::vector<MergeRule> read_merges_txt(const std::string& path);

}  // namespace ls
