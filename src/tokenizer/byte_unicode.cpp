// Builds both directions of the bytes_to_unicode map once, on first use.
#include "tokenizer/byte_unicode.h"

#include <array>

namespace ls {

namespace {

constexpr char32_t kFirstShifted = 0x100;  // where the bytes without a printable glyph are moved to
constexpr int kNumCodepoints = 0x100 + 68;  // every image is below this

bool is_printable_byte(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteMap {
    std::array<char32_t, 256> to_cp{};
    std::array<int16_t, kNumCodepoints> to_byte{};

    ByteMap() {
        to_byte.fill(-1);
        char32_t next = kFirstShifted;
        for (int b = 0; b < 256; ++b) {
            to_cp[b] = is_printable_byte(b) ? static_cast<char32_t>(b) : next++;
            to_byte[to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};

const ByteMap& byte_map() {
    static const ByteMap map;
    return map;
}

}  // namespace

char32_t byte_to_codepoint(uint8_t b) { return byte_map().to_cp[b]; }

int codepoint_to_byte(char32_t cp) {
    return cp < static_cast<char32_t>(kNumCodepoints) ? byte_map().to_byte[cp] : -1;
}

}  // namespace ls
