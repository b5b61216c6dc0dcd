#include "parallel/shard_loader.h"

#include <vector>

namespace ls {

// Checkpoints are read as fp32 and narrowed here, on the host, to the dtype the backend stores weights in
// (rounding to nearest even, as torch's .to(float16) does).
Buffer ShardLoader::upload(const std::vector<float>& host, int64_t rows, int64_t cols, bool replicated) {
    const DType dt = backend_.weight_dtype();
    Buffer b = backend_.alloc(dt, {rows, cols});
    if (dt == DType::F32) {
        backend_.copy_from_host(b, host.data());
    } else {
        ENSURE(dt == DType::F16 || dt == DType::BF16, "weights in ", dtype_name(dt), " are not supported");
        std::vector<uint16_t> narrow(host.size());
        for (size_t i = 0; i < host.size(); i++)
            narrow[i] = dt == DType::F16 ? f32_to_f16(host[i]) : f32_to_bf16(host[i]);
        backend_.copy_from_host(b, narrow.data());
    }
    (replicated ? bytes_.replicated : bytes_.sharded) += int64_t(b.nbytes());
    return b;
}

Buffer ShardLoader::rows(const TensorInfo& t, int64_t r0, int64_t r1, int64_t n_rows_out, bool replicated) {
    ENSURE(t.shape.size() == 2, t.file, ": tensor '", t.name, "' should be 2-D");
    const int64_t c = t.shape[1];
    std::vector<float> host(size_t(n_rows_out * c), 0.0f);
    if (r1 > r0) ckpt_.read_f32(t, r0, r1, 0, c, host.data());
    return upload(host, n_rows_out, c, replicated);
}

Buffer ShardLoader::cols(const TensorInfo& t, int64_t c0, int64_t c1) {
    ENSURE(t.shape.size() == 2, t.file, ": tensor '", t.name, "' should be 2-D");
    const int64_t r = t.shape[0];
    std::vector<float> host(size_t(r * (c1 - c0)));
    ckpt_.read_f32(t, 0, r, c0, c1, host.data());
    return upload(host, r, c1 - c0, false);
}

Buffer ShardLoader::range(const TensorInfo& t, int64_t e0, int64_t e1, bool replicated) {
    ENSURE(t.shape.size() == 1, t.file, ": tensor '", t.name, "' should be 1-D");
    std::vector<float> host(size_t(e1 - e0));
    ckpt_.read_f32(t, 0, 1, e0, e1, host.data());
    Buffer b = upload(host, e1 - e0, 1, replicated);
    return b;
}

Buffer ShardLoader::stacked(const std::vector<const TensorInfo*>& ts, int64_t i0, int64_t i1) {
    const bool matrix = ts.front()->shape.size() == 2;  // else 1-D: a [1, n] matrix to read_f32
    const int64_t c = matrix ? ts.front()->shape[1] : 1, n = i1 - i0;
    std::vector<float> host(size_t(int64_t(ts.size()) * n * c));
    for (size_t i = 0; i < ts.size(); i++) {
        const TensorInfo& t = *ts[i];
        ENSURE(matrix ? t.shape.size() == 2 && t.shape[1] == c : t.shape.size() == 1, t.file, ": tensor '", t.name,
               "' should be ", matrix ? cat("2-D with ", c, " columns") : std::string("1-D"));
        float* block = host.data() + i * size_t(n * c);
        if (matrix)
            ckpt_.read_f32(t, i0, i1, 0, c, block);
        else
            ckpt_.read_f32(t, 0, 1, i0, i1, block);
    }
    return upload(host, int64_t(ts.size()) * n, c, false);
}

Buffer ShardLoader::whole(const TensorInfo& t) {
    if (t.shape.size() == 1) return range(t, 0, t.shape[0], true);
    return rows(t, 0, t.shape[0], t.shape[0], true);
}

}  // namespace ls
