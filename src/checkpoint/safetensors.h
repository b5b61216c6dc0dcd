// The safetensors header parser: 8-byte little-endian length N, then N bytes of JSON mapping each tensor name to
// {dtype, shape, data_offsets [begin, end)} relative to the data section that follows the header.
//
//   | N (u64 LE) | JSON header, N bytes (space-padded) | data section: file_size - 8 - N bytes |
//
// Pure function on a byte buffer so that a fuzzer can drive it without files.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"

namespace ls {

// Upper bound on N: real headers are a few hundred kB even for 100-shard models; anything far larger is corrupt.
inline constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;

// `data` holds the first `len` bytes of a file of `file_size` bytes named `file_name` (len may be < file_size;
// it must cover 8 + N). Validates every entry (dtype, shape, offsets inside the data section, size ==
// numel·dtype_size, no two tensors overlapping) and returns them with absolute file offsets, TensorInfo::file =
// file_name, in header order. `__metadata__` is ignored. Throws ls::Error naming file_name and the tensor.
std::vector<TensorInfo> parse_safetensors_header(const uint8_t* data, size_t len, uint64_t file_size,
                                                 const std::string& file_name);

}  // namespace ls
