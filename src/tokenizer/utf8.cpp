// Strict UTF-8 decoding per Unicode Table 3-7 ("well-formed byte sequences"), which is also what Python's codec
// implements: overlongs, surrogates (ED A0..BF) and code points above U+10FFFF are rejected at the second byte.
#include "tokenizer/utf8.h"

#include <cstdint>

namespace ls {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

struct LeadInfo {
    int n_bytes;           // 0: not a lead byte
    uint8_t lo2, hi2;      // allowed range of the second byte; later bytes are always 80..BF
};

LeadInfo lead_info(uint8_t b) {
    if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
    if (b == 0xE0) return {3, 0xA0, 0xBF};  // no overlongs
    if (b == 0xED) return {3, 0x80, 0x9F};  // no surrogates
    if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
    if (b == 0xF0) return {4, 0x90, 0xBF};  // no overlongs
    if (b == 0xF4) return {4, 0x80, 0x8F};  // nothing above U+10FFFF
    if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
    return {0, 0, 0};                       // 80..C1 (continuations, overlong leads) and F5..FF
}

}  // namespace

Utf8Char decode_utf8(std::string_view s, size_t pos) {
    const auto b0 = static_cast<uint8_t>(s[pos]);
    if (b0 < 0x80) return {b0, 1, true};
    const LeadInfo lead = lead_info(b0);
    if (lead.n_bytes == 0) return {kReplacement, 1, false};

    char32_t cp = b0 & (0xFF >> (lead.n_bytes + 1));
    for (int k = 1; k < lead.n_bytes; ++k) {
        if (pos + k >= s.size()) return {kReplacement, k, false};  // truncated: the prefix is one subpart
        const auto b = static_cast<uint8_t>(s[pos + k]);
        const uint8_t lo = k == 1 ? lead.lo2 : 0x80;
        const uint8_t hi = k == 1 ? lead.hi2 : 0xBF;
        if (b < lo || b > hi) return {kReplacement, k, false};
        cp = (cp << 6) | (b & 0x3F);
    }
    return {cp, lead.n_bytes, true};
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string to_valid_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (size_t pos = 0; pos < bytes.size();) {
        const Utf8Char c = decode_utf8(bytes, pos);
        if (c.valid) {
            out.append(bytes.substr(pos, c.n_bytes));
        } else {
            append_utf8(out, kReplacement);
        }
        pos += c.n_bytes;
    }
    return out;
}

}  // namespace ls
