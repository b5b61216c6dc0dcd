// The central directory of a zip file (the container torch.save writes), enough to locate stored members:
//
//   [local header + data]...  [central directory entries]  [ZIP64 EOCD record] [ZIP64 locator]  [EOCD + comment]
//
// The end-of-central-directory record (EOCD) is found by scanning the last 64 KiB + 22 bytes; when a ZIP64
// locator sits just before it (torch always writes one; shards > 4 GiB need it), the ZIP64 record's counts and
// offsets win. Each member's data starts after its *local* header, whose extra field may differ in length from the
// central one (torch pads local headers to align data to 64 bytes). Pure function on a byte buffer (fuzzable).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ls {

struct ZipMember {
    std::string name;          // e.g. "pytorch_model/data/0"
    uint64_t data_offset = 0;  // absolute offset of the member's first byte in the archive
    uint64_t size = 0;         // bytes (stored members only, so compressed == uncompressed)
};

// `data` is the whole archive (`len` bytes) named `file_name` in errors. Only stored (method 0), unencrypted,
// single-disk archives are accepted; every offset and size is checked against `len`. Throws ls::Error naming
// file_name and, where relevant, the member.
std::vector<ZipMember> parse_zip(const uint8_t* data, size_t len, const std::string& file_name);

}  // namespace ls
