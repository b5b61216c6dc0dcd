// Fast, reproducible random tensors for make-model. Element i of a tensor is a pure function of
// (seed, tensor name, i), so its bytes do not depend on the thread count, the shard layout, or which other
// tensors the model has (layer 0 of a 2-layer and of a 24-layer model are equal for one seed).
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace ls {

struct NormalFill {
    uint64_t key;  // from tensor_key()
    float mean;
    float std;
};

// Mixes the run's seed with the tensor's name into the key of its random stream.
uint64_t tensor_key(uint64_t seed, const std::string& name);

// Writes n values of mean + std · N(0, 1) at dst, rounded to dtype (F32, F16 or BF16, nearest even), using up
// to n_threads threads. Normals come from Box–Muller on a splitmix64 counter stream with 23-bit radius
// uniforms, so |N| < 5.8: no value overflows float16 for any std make-model accepts.
void fill_normal(void* dst, DType dtype, int64_t n, const NormalFill& f, int n_threads);

}  // namespace ls
