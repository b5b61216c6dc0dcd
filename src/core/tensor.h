// Tensor: a non-owning view {data, dtype, shape} of backend memory (host or device). Buffer: the owner,
// move-only, released through the backend that made it. Counts always come from the Tensor, never from a
// loose argument, so no call site can mix bytes and elements.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>

#include "core/check.h"
#include "core/dtype.h"

namespace ls {

struct Tensor {
    void* data = nullptr;
    DType dtype = DType::F32;
    std::array<int64_t, 4> shape{0, 0, 0, 0};
    int ndim = 0;

    int64_t numel() const {
        int64_t n = 1;
        for (int i = 0; i < ndim; i++) n *= shape[i];
        return ndim ? n : 0;
    }
    size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
    int64_t rows() const { return ndim ? shape[0] : 0; }
    int64_t cols() const {  // everything after dim 0 (also for zero rows)
        int64_t n = 1;
        for (int i = 1; i < ndim; i++) n *= shape[i];
        return ndim ? n : 0;
    }
    float* f32() const { return static_cast<float*>(data); }
    int32_t* i32() const { return static_cast<int32_t*>(data); }

    // Rows [r0, r1) along dim 0: a view of the same memory.
    Tensor slice_rows(int64_t r0, int64_t r1) const {
        ENSURE(r0 >= 0 && r0 <= r1 && r1 <= rows(), "slice_rows [", r0, ", ", r1, ") of ", rows(), " rows");
        Tensor t = *this;
        t.data = static_cast<char*>(data) + size_t(r0 * cols()) * dtype_size(dtype);
        t.shape[0] = r1 - r0;
        return t;
    }
    // Block i along dim 0, a view with one dimension less: [d0, d1, d2] → [d1, d2].
    Tensor at(int64_t i) const {
        ENSURE(ndim >= 2 && i >= 0 && i < rows(), "at(", i, ") of a ", ndim, "-D tensor of ", rows(), " blocks");
        Tensor t = *this;
        t.data = static_cast<char*>(data) + size_t(i * cols()) * dtype_size(dtype);
        t.ndim = ndim - 1;
        for (int d = 0; d < 3; d++) t.shape[size_t(d)] = shape[size_t(d) + 1];
        t.shape[3] = 0;
        return t;
    }
    // The same memory seen as [rows, cols] (cols = rows · cols of the original / rows).
    Tensor view2d(int64_t r, int64_t c) const {
        ENSURE(r * c == numel(), "view2d [", r, ", ", c, "] of ", numel(), " elements");
        Tensor t = *this;
        t.ndim = 2;
        t.shape = {r, c, 0, 0};
        return t;
    }
};

inline Tensor make_tensor(void* data, DType dtype, std::initializer_list<int64_t> shape) {
    Tensor t;
    t.data = data;
    t.dtype = dtype;
    for (int64_t d : shape) t.shape[t.ndim++] = d;
    return t;
}

class Buffer {
public:
    Buffer() = default;
    Buffer(Tensor t, std::function<void(void*)> release) : t_(t), release_(std::move(release)) {}
    Buffer(Buffer&& o) noexcept : t_(o.t_), release_(std::move(o.release_)) { o.t_.data = nullptr; }
    Buffer& operator=(Buffer&& o) noexcept {
        if (this != &o) {
            reset();
            t_ = o.t_;
            release_ = std::move(o.release_);
            o.t_.data = nullptr;
        }
        return *this;
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() { reset(); }

    const Tensor& tensor() const { return t_; }
    operator const Tensor&() const { return t_; }
    bool empty() const { return t_.data == nullptr; }
    size_t nbytes() const { return t_.data ? t_.nbytes() : 0; }

private:
    void reset() {
        if (t_.data && release_) release_(t_.data);
        t_.data = nullptr;
    }
    Tensor t_;
    std::function<void(void*)> release_;
};

}  // namespace ls
