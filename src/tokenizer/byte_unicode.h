// GPT-2's reversible map between the 256 byte values and printable code points ("bytes_to_unicode"). BPE vocab
// strings are spelled in these code points, so a vocab never holds raw control bytes or spaces: byte 0x20 is
// "Ġ" (U+0120), byte 0x0A is "Ċ" (U+010A).
//
//   bytes 0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF  →  the same code point (already printable)
//   the other 68 bytes, in increasing order   →  U+0100, U+0101, … U+0143
#pragma once
#include <cstdint>

namespace ls {

char32_t byte_to_codepoint(uint8_t b);
int codepoint_to_byte(char32_t cp);  // the byte whose image is cp, or -1 if cp is no byte's image

}  // namespace ls
