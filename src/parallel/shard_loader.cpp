#include "parallel/shard_loader.h"

#include <cstring>
#include <memory>
#include <vector>

namespace ls {

// Each block is read straight into the dtype the backend stores weights in (Checkpoint::read: the file's bytes
// when they are already that dtype, else widened, and rounded to nearest even for a 16-bit one, as torch's
// .to(float16) does), then copied to the backend once. Going through fp32 element by element with scalar
// conversions took 12-18 s of opt-1.3b's load on the H200's host (results/bench-gpu-first), 15 s here.
Buffer ShardLoader::read_block(int64_t rows, int64_t cols, bool replicated, const std::function<void(uint8_t*)>& fill) {
    const DType dt = backend_.weight_dtype();
    ENSURE(dt == DType::F32 || dt == DType::F16 || dt == DType::BF16, "weights in ", dtype_name(dt),
           " are not supported");
    // Not zeroed: fill writes every byte (a pass over a large model's weights is not free).
    const std::unique_ptr<uint8_t[]> host(new uint8_t[size_t(rows * cols) * dtype_size(dt)]);
    fill(host.get());
    Buffer b = backend_.alloc(dt, {rows, cols});
    backend_.copy_from_host(b, host.get());
    (replicated ? bytes_.replicated : bytes_.sharded) += int64_t(b.nbytes());
    return b;
}

Buffer ShardLoader::rows(const TensorInfo& t, int64_t r0, int64_t r1, int64_t n_rows_out, bool replicated) {
    ENSURE(t.shape.size() == 2, t.file, ": tensor '", t.name, "' should be 2-D");
    const int64_t c = t.shape[1];
    ENSURE(0 <= r0 && r0 <= r1 && r1 - r0 <= n_rows_out, t.file, ": tensor '", t.name, "': rows [", r0, ", ", r1,
           ") into ", n_rows_out);
    const size_t row_bytes = size_t(c) * dtype_size(backend_.weight_dtype());
    return read_block(n_rows_out, c, replicated, [&](uint8_t* host) {
        if (r1 > r0) ckpt_.read(t, r0, r1, 0, c, backend_.weight_dtype(), host);
        std::memset(host + size_t(r1 - r0) * row_bytes, 0, size_t(n_rows_out - (r1 - r0)) * row_bytes);  // padding
    });
}

Buffer ShardLoader::cols(const TensorInfo& t, int64_t c0, int64_t c1) {
    ENSURE(t.shape.size() == 2, t.file, ": tensor '", t.name, "' should be 2-D");
    const int64_t r = t.shape[0];
    return read_block(r, c1 - c0, false,
                      [&](uint8_t* host) { ckpt_.read(t, 0, r, c0, c1, backend_.weight_dtype(), host); });
}

Buffer ShardLoader::range(const TensorInfo& t, int64_t e0, int64_t e1, bool replicated) {
    ENSURE(t.shape.size() == 1, t.file, ": tensor '", t.name, "' should be 1-D");
    return read_block(e1 - e0, 1, replicated,
                      [&](uint8_t* host) { ckpt_.read(t, 0, 1, e0, e1, backend_.weight_dtype(), host); });
}

Buffer ShardLoader::stacked(const std::vector<const TensorInfo*>& ts, int64_t i0, int64_t i1) {
    const bool matrix = ts.front()->shape.size() == 2;  // else 1-D: a [1, n] matrix to read
    const int64_t c = matrix ? ts.front()->shape[1] : 1, n = i1 - i0;
    const DType dt = backend_.weight_dtype();
    return read_block(int64_t(ts.size()) * n, c, false, [&](uint8_t* host) {
        for (size_t i = 0; i < ts.size(); i++) {
            const TensorInfo& t = *ts[i];
            ENSURE(matrix ? t.shape.size() == 2 && t.shape[1] == c : t.shape.size() == 1, t.file, ": tensor '",
                   t.name, "' should be ", matrix ? cat("2-D with ", c, " columns") : std::string("1-D"));
            uint8_t* block = host + i * size_t(n * c) * dtype_size(dt);
            if (matrix)
                ckpt_.read(t, i0, i1, 0, c, dt, block);
            else
                ckpt_.read(t, 0, 1, i0, i1, dt, block);
        }
    });
}

Buffer ShardLoader::whole(const TensorInfo& t) {
    if (t.shape.size() == 1) return range(t, 0, t.shape[0], true);
    return rows(t, 0, t.shape[0], t.shape[0], true);
}

}  // namespace ls
