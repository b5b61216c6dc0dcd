// The cuBLAS calls of src/ on the CPU (LOCKSTEP_CUDA=EMU): cublasGemmEx as OpenBLAS's sgemm on fp32 copies of
// the operands (fp32 accumulation, as CUBLAS_COMPUTE_32F), queued on the handle's stream like any kernel.
// F32, F16 and BF16 matrices; the TF32 compute type rounds the inputs to TF32's 10-bit mantissa, as tensor
// cores do. It refuses what cuBLAS refuses among what src/ could pass: bad dimensions or leading dimensions
// (INVALID_VALUE), type combinations cuBLAS has no kernel for, and matrices outside emulated device memory.
#include <cblas.h>
#include <cublas_v2.h>

#include <cstdint>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "device_emu.h"

struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {

bool element_type(cudaDataType t, ls::DType* d) {
    switch (t) {
        case CUDA_R_32F: *d = ls::DType::F32; return true;
        case CUDA_R_16F: *d = ls::DType::F16; return true;
        case CUDA_R_16BF: *d = ls::DType::BF16; return true;
        default: return false;
    }
}

float load(const void* p, ls::DType d, size_t i) {
    switch (d) {
        case ls::DType::F32: return static_cast<const float*>(p)[i];
        case ls::DType::F16: return ls::f16_to_f32(static_cast<const uint16_t*>(p)[i]);
        default: return ls::bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    }
}

void store(void* p, ls::DType d, size_t i, float v) {
    switch (d) {
        case ls::DType::F32: static_cast<float*>(p)[i] = v; return;
        case ls::DType::F16: static_cast<uint16_t*>(p)[i] = ls::f32_to_f16(v); return;
        default: static_cast<uint16_t*>(p)[i] = ls::f32_to_bf16(v); return;
    }
}

float tf32(float x) {  // round to nearest (ties away), keeping 10 mantissa bits
    if (std::isnan(x)) return x;  // the rounding carry would turn some NaNs into zeros
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u = (u + 0x1000u) & ~0x1fffu;
    std::memcpy(&x, &u, 4);
    return x;
}

// A column-major [rows, cols] matrix with leading dimension ld as dense fp32 (ld = rows), TF32-rounded if
// asked: the matrix itself when it already is one, else a copy in `buf` (kept between calls: the LM head's
// weight copy is megabytes, and a fresh one per call costs more than the GEMM).
const float* dense(const void* p, ls::DType d, int rows, int cols, int ld, bool round_tf32, std::vector<float>& buf) {
    if (d == ls::DType::F32 && ld == rows && !round_tf32) return static_cast<const float*>(p);
    buf.resize(size_t(rows) * size_t(cols));
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++) {
            const float v = load(p, d, size_t(r) + size_t(c) * size_t(ld));
            buf[size_t(r) + size_t(c) * size_t(rows)] = round_tf32 ? tf32(v) : v;
        }
    return buf.data();
}

}  // namespace

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
    // One thread: OpenBLAS's idle workers spin in sched_yield between the small GEMMs, and on a 2-core machine
    // they took the core from the emulated kernels (a third of the run in the scheduler).
    openblas_set_num_threads(1);
    *handle = new cublasContext;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void*, size_t) {
    return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

const char* cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS (cuBLAS emulation)";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED (cuBLAS emulation)";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE (cuBLAS emulation)";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED (cuBLAS emulation)";
        default: return "cuBLAS error (cuBLAS emulation)";
    }
}

// C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C, all column-major; alpha and beta are floats (the
// scale type of CUBLAS_COMPUTE_32F*).
cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    const bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
    if ((transa != CUBLAS_OP_N && !ta) || (transb != CUBLAS_OP_N && !tb)) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (m < 0 || n < 0 || k < 0 || lda < (ta ? k : m) || lda < 1 || ldb < (tb ? n : k) || ldb < 1 || ldc < m ||
        ldc < 1)
        return CUBLAS_STATUS_INVALID_VALUE;
    ls::DType da, db, dc;
    if (!element_type(Atype, &da) || !element_type(Btype, &db) || !element_type(Ctype, &dc))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_FAST_TF32) return CUBLAS_STATUS_NOT_SUPPORTED;
    // cublasGemmEx's table for these compute types: A and B of one type; C of that type or F32 (F16/BF16
    // inputs); TF32 only for F32 inputs.
    if (da != db || (dc != da && dc != ls::DType::F32) ||
        (compute == CUBLAS_COMPUTE_32F_FAST_TF32 && da != ls::DType::F32))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    const size_t ea = ls::dtype_size(da), ec = ls::dtype_size(dc);
    if (m > 0 && n > 0 && k > 0 &&
        (!ls::emu::is_device_memory(A, (size_t(lda) * size_t(ta ? m : k)) * ea) ||
         !ls::emu::is_device_memory(B, (size_t(ldb) * size_t(tb ? k : n)) * ea)))
        return CUBLAS_STATUS_INVALID_VALUE;  // on a GPU: an illegal address when the kernel runs
    if (m > 0 && n > 0 && !ls::emu::is_device_memory(C, size_t(ldc) * size_t(n) * ec)) return CUBLAS_STATUS_INVALID_VALUE;
    const bool round_tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32 && da == ls::DType::F32;
    const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
    ls::emu::enqueue(handle->stream, [=] {
        if (m == 0 || n == 0) return;
        const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
        static thread_local std::vector<float> a_buf, b_buf, c_buf;
        const float* a32 = dense(A, da, a_rows, a_cols, lda, round_tf32, a_buf);
        const float* b32 = dense(B, db, b_rows, b_cols, ldb, round_tf32, b_buf);
        float* c32 = nullptr;
        const bool c_direct = dc == ls::DType::F32 && ldc == m;
        if (c_direct) {
            c32 = static_cast<float*>(C);
        } else {
            c_buf.assign(size_t(m) * size_t(n), 0.0f);
            if (b != 0.0f) dense(C, dc, m, n, ldc, false, c_buf);  // beta 0: C is not read
            c32 = c_buf.data();
        }
        cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, a, a32,
                    std::max(a_rows, 1), b32, std::max(b_rows, 1), b, c32, m);
        if (!c_direct)
            for (int j = 0; j < n; j++)
                for (int i = 0; i < m; i++)
                    store(C, dc, size_t(i) + size_t(j) * size_t(ldc), c32[size_t(i) + size_t(j) * size_t(m)]);
    });
    return CUBLAS_STATUS_SUCCESS;
}

// batch_count GEMMs as cublasGemmEx, matrix i at A + i·strideA, B + i·strideB, C + i·strideC elements: a
// stride of 0 reuses one matrix (src/ passes the same input to the stacked q, k, v weights).
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                                          int lda, long long strideA, const void* B, cudaDataType Btype, int ldb,
                                          long long strideB, const void* beta, void* C, cudaDataType Ctype, int ldc,
                                          long long strideC, int batch_count, cublasComputeType_t compute,
                                          cublasGemmAlgo_t algo) {
    if (batch_count < 0 || strideA < 0 || strideB < 0 || strideC < 0) return CUBLAS_STATUS_INVALID_VALUE;
    ls::DType da, db, dc;
    if (!element_type(Atype, &da) || !element_type(Btype, &db) || !element_type(Ctype, &dc))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    // Output matrices that overlap would race on a GPU.
    if (batch_count > 1 && m > 0 && n > 0 && strideC < (long long)(ldc) * n) return CUBLAS_STATUS_INVALID_VALUE;
    for (int i = 0; i < batch_count; i++) {
        const cublasStatus_t s = cublasGemmEx(
            handle, transa, transb, m, n, k, alpha, static_cast<const char*>(A) + i * strideA * ls::dtype_size(da),
            Atype, lda, static_cast<const char*>(B) + i * strideB * ls::dtype_size(db), Btype, ldb, beta,
            static_cast<char*>(C) + i * strideC * ls::dtype_size(dc), Ctype, ldc, compute, algo);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}
