// UTF-8 decoding that never fails: the tokenizer takes arbitrary bytes in and must hand valid UTF-8 out, with
// invalid input treated as Python's bytes.decode("utf-8", errors="replace") treats it.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace ls {

// One decoded character at a byte offset. For bytes that are not well-formed UTF-8 (Unicode Table 3-7), `valid`
// is false and `n_bytes` spans the maximal subpart: the longest prefix of a well-formed sequence, at least one
// byte. Example: "\xE2\x82" then "A" gives {invalid, 2 bytes}, then 'A'.
struct Utf8Char {
    char32_t cp;     // the code point; U+FFFD when !valid
    int n_bytes;     // 1..4
    bool valid;
};

Utf8Char decode_utf8(std::string_view s, size_t pos);  // requires pos < s.size()

void append_utf8(std::string& out, char32_t cp);

// Replaces each maximal invalid subpart with U+FFFD and keeps everything else, as Python's errors="replace".
std::string to_valid_utf8(std::string_view bytes);

}  // namespace ls
