// Little-endian integer loads from unaligned bytes, shared by the safetensors, zip and pickle parsers. Callers
// check bounds first; these only assemble bytes.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ls {

inline uint64_t load_le(const uint8_t* p, size_t n_bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < n_bytes; i++) v |= uint64_t(p[i]) << (8 * i);
    return v;
}
inline uint16_t load_u16(const uint8_t* p) { return uint16_t(load_le(p, 2)); }
inline uint32_t load_u32(const uint8_t* p) { return uint32_t(load_le(p, 4)); }
inline uint64_t load_u64(const uint8_t* p) { return load_le(p, 8); }

}  // namespace ls
