// pytorch_model.bin as torch.save writes it (since torch 1.6): a zip of stored members
//   <archive>/data.pkl       the state dict, pickled; tensors refer to storages by key
//   <archive>/data/<key>     raw little-endian bytes of each storage
//   <archive>/byteorder      "little" (optional), <archive>/version, ...
// where <archive> is any folder name ("pytorch_model", "archive"). This joins the pickle's tensors with the
// members' data offsets. Pure function on a byte buffer (fuzzable).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"

namespace ls {

// `data` is the whole file (`len` bytes) named `file_name`. Returns the state dict's tensors with absolute
// offsets into the file (data start of member data/<key> + storage_offset · element size), each checked to lie
// inside its member. Throws ls::Error naming file_name and the member or tensor at fault.
std::vector<TensorInfo> parse_torch_zip(const uint8_t* data, size_t len, const std::string& file_name);

}  // namespace ls
