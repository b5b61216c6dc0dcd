// GPT-2's pre-tokenization: splits text into the pieces that BPE then encodes one by one, exactly as the
// `regex` module splits with GPT-2's pattern
//
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Example: "I'll go  now!" → "I" "'ll" " go" " " " now" "!". Bytes that are not valid UTF-8 count as
// [^\s\p{L}\p{N}] (as U+FFFD would) but are kept as they are, so the pieces always concatenate to the input.
#pragma once
#include <string_view>
#include <vector>

namespace ls {

std::vector<std::string_view> pretokenize(std::string_view text);

}  // namespace ls
