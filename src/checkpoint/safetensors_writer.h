// Writes a .safetensors file (8-byte little-endian header length, JSON header, tensor bytes), as PyTorch's
// safetensors.torch.save_file does: tensors in the given order, offsets contiguous, header padded with spaces
// to a multiple of 8 bytes.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace ls {

struct NamedTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    const void* data;  // shape-product elements of `dtype`, contiguous
};

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ls
