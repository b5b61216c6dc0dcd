// A Hugging Face checkpoint directory as one table of tensors, whatever its files: model.safetensors, sharded
// *.safetensors with model.safetensors.index.json, pytorch_model.bin (torch.save's zip + pickle), or sharded
// pytorch_model-*.bin with pytorch_model.bin.index.json. Only headers are parsed at open(); tensor bytes are
// read on demand, and only the rows/columns asked for (mmap of the file, pages touched on copy).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace ls {

struct TensorInfo {
    std::string name;            // key as stored, e.g. "model.decoder.layers.0.fc1.weight"
    DType dtype;
    std::vector<int64_t> shape;  // row-major, contiguous
    std::string file;            // path of the file holding the bytes
    uint64_t offset = 0;         // absolute byte offset of element 0 in `file`
    uint64_t nbytes = 0;
};

class Checkpoint {
public:
    // Throws ls::Error naming the directory or file at fault (missing, no weights file, corrupt header...).
    static Checkpoint open(const std::string& model_dir);

    Checkpoint(Checkpoint&&) noexcept;
    Checkpoint& operator=(Checkpoint&&) noexcept;
    ~Checkpoint();

    const std::string& dir() const;
    const std::string& format() const;  // "safetensors" or "pytorch_bin"
    const TensorInfo* find(const std::string& name) const;  // nullptr when absent
    std::vector<std::string> names() const;                 // sorted

    // Copies rows [row0, row1) × columns [col0, col1) of a 2-D tensor into dst as float32, row-major
    // [row1-row0, col1-col0]; a 1-D tensor of n elements reads as one row (row0=0, row1=1) of n columns.
    // Reads only those bytes from the file. Throws ls::Error naming the tensor on out-of-range requests.
    void read_f32(const TensorInfo& t, int64_t row0, int64_t row1, int64_t col0, int64_t col1,
                  float* dst) const;
    // The same block in dtype `as` (F32, F16 or BF16) at dst: the file's bytes as they are when the tensor is
    // stored in that dtype (an fp16 checkpoint loaded in fp16), else widened to fp32 and, for a 16-bit `as`,
    // rounded to nearest even.
    void read(const TensorInfo& t, int64_t row0, int64_t row1, int64_t col0, int64_t col1, DType as,
              void* dst) const;

    uint64_t bytes_read() const;  // tensor bytes copied so far by read_f32 and read (this process)

private:
    struct Impl;
    explicit Checkpoint(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ls
