// A restricted pickle reader for the data.pkl that torch.save writes for a state dict (protocol 2). It executes
// nothing: it only builds values (None, bool, int, float, str, tuple, list, dict, global reference, storage,
// tensor) and knows a handful of globals by name. Any other opcode or global is an error naming it.
//
// The shape of a state-dict pickle, one entry per tensor:
//   {key: _rebuild_tensor_v2(BINPERSID(('storage', torch.FloatStorage, '<storage key>', 'cpu', numel)),
//                            storage_offset, (size...), (stride...), requires_grad, OrderedDict())}
// The tensor bytes live in the zip member <archive>/data/<storage key>; torch_bin.cpp joins the two.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace ls {

struct PickledTensor {
    std::string name;              // state-dict key
    DType dtype;                   // from the storage class: FloatStorage → F32, HalfStorage → F16 ...
    std::string storage_key;       // zip member <archive>/data/<storage_key>
    uint64_t storage_numel = 0;    // elements of the whole storage, as the pickle claims
    uint64_t storage_offset = 0;   // in elements
    std::vector<int64_t> shape;    // contiguous (checked: stride matches shape)
};

// Runs the pickle in data[0, len) and returns the state dict's tensors in pickle order. `file_name` (the .bin)
// prefixes every error, followed by the tensor being read when one is known. Never crashes on malformed input.
std::vector<PickledTensor> parse_torch_pickle(const uint8_t* data, size_t len, const std::string& file_name);

}  // namespace ls
