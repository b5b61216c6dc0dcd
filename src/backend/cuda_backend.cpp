// CudaBackend: the caching allocator, host transfers, cuBLAS GEMMs, kernel launches and CUDA graphs of one
// device, all on one stream.
#include "backend/cuda_backend.h"

#include "core/wait.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "backend/cuda_check.h"
#include "backend/shape_checks.h"
#include "kernels.h"

namespace ls {

namespace {

constexpr size_t kCublasWorkspace = size_t(32) << 20;  // cuBLAS's recommendation for Hopper (4 MiB elsewhere)
constexpr size_t kStagingBytes = size_t(16) << 20;     // per pinned staging buffer of copy_from_host

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

cudaDataType_t cuda_type(DType t) {
    switch (t) {
        case DType::F32: return CUDA_R_32F;
        case DType::F16: return CUDA_R_16F;
        case DType::BF16: return CUDA_R_16BF;
        default: raise("cuda backend: no cuBLAS type for ", dtype_name(t));
    }
}

void expect(const Tensor& t, DType dtype, const char* op, const char* what) {
    ENSURE(t.dtype == dtype, "cuda backend: ", op, ": ", what, " is ", dtype_name(t.dtype), ", expected ",
           dtype_name(dtype));
}

void expect_float(const Tensor& t, const char* op, const char* what) {
    ENSURE(is_float(t.dtype), "cuda backend: ", op, ": ", what, " is ", dtype_name(t.dtype),
           ", expected F32, F16 or BF16");
}

// The operands of layer_norm and add_residual, and of the two fused: dtypes here, shapes in shape_checks.
void expect_layer_norm(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta, const char* op) {
    expect_float(x, op, "input");
    expect(y, x.dtype, op, "output");
    expect(beta, gamma.dtype, op, "beta");
    check_layer_norm(y, x, gamma, beta, op);
}

void expect_residual(const Tensor& h, const Tensor& y, const Tensor& bias, const char* op) {
    expect_float(h, op, "h");
    expect(y, h.dtype, op, "y");
    expect(bias, h.dtype, op, "bias");
    check_residual(h, y, bias, op);
}

// Small blocks in 512 B steps; large ones in 2 MiB steps, the granularity cudaMalloc hands out anyway.
size_t round_size(size_t bytes) {
    const size_t step = bytes < (size_t(1) << 20) ? 512 : size_t(2) << 20;
    return std::max<size_t>((bytes + step - 1) / step * step, step);
}

// A whole number from the environment, for the knobs below that compare two code paths on a GPU: `unset` when
// the variable is not set or empty; anything outside [lo, hi] ends the rank, naming the variable.
int64_t env_knob(const char* name, int64_t lo, int64_t hi, int64_t unset, const char* meaning) {
    const char* v = std::getenv(name);
    if (!v || !*v) return unset;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    ENSURE(*end == '\0' && n >= lo && n <= hi, name, "=", v, ": expected a whole number from ", lo, " to ", hi, " (",
           meaning, ")");
    return n;
}

// LOCKSTEP_DECODE_SPLITS=N: every decode step cuts each context into N ranges instead of the count that
// kernels::decode_splits picks from the SM count (0 when unset): to compare the two on a GPU, and to run the
// split path where the heuristic would not choose it (the emulation has one SM).
int forced_decode_splits() {
    return int(env_knob("LOCKSTEP_DECODE_SPLITS", 1, kernels::kMaxDecodeSplits, 0,
                        "the ranges each decode context is cut into; unset: chosen from the GPU's SM count"));
}

// Steps of at most this many rows multiply in kernels::gemv, more in cuBLAS. One by default: on an H200 at the
// opt-1.3b shape in fp16, gemv made batch-1 ITL 1.55 ms against cuBLAS's 1.65, but 8 sequences' 4.02 ms
// against 1.74 (every warp re-reads x's 8 rows; results/bench-gpu). LOCKSTEP_GEMV=N sets it (0: cuBLAS for every
// step), to measure 2..8 on a GPU.
int64_t gemv_max_rows() {
    return env_knob("LOCKSTEP_GEMV", 0, kernels::kGemvMaxRows, 1,
                    "the most rows a linear layer multiplies in kernels::gemv, not cuBLAS; unset: 1");
}

}  // namespace

int cuda_device_count(std::string* why) {
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        cudaGetLastError();  // the runtime keeps the error sticky for the next call otherwise
        if (why) *why = cat("cudaGetDeviceCount: ", cudaGetErrorString(err));
        return 0;
    }
    if (n == 0 && why) *why = "cudaGetDeviceCount: no CUDA device";
    return n;
}

std::unique_ptr<Backend> make_cuda_backend(const BackendConfig& cfg) {
    std::string why;
    const int n = cuda_device_count(&why);
    ENSURE(n > 0, "--device cuda: no CUDA device is visible (", why, ")");
    ENSURE(cfg.cuda_device >= 0 && cfg.cuda_device < n, "--device cuda: CUDA device ", cfg.cuda_device,
           " requested but this process sees ", n, " device(s) (0..", n - 1,
           "); more ranks per host than GPUs, or CUDA_VISIBLE_DEVICES hides them");
    return std::make_unique<CudaBackend>(cfg);
}

CudaBackend::CudaBackend(const BackendConfig& cfg) {
    try {
        init(cfg);
    } catch (...) {
        destroy();
        throw;
    }
}

CudaBackend::~CudaBackend() { destroy(); }

void CudaBackend::init(const BackendConfig& cfg) {
    ENSURE(is_float(cfg.dtype), "cuda backend: compute dtype ", dtype_name(cfg.dtype), ": expected F32, F16 or BF16");
    device_ = cfg.cuda_device;
    dtype_ = cfg.dtype;
    allow_tf32_ = cfg.allow_tf32;
    CUDA_CALL(cudaSetDevice(device_));
    cudaDeviceProp prop{};
    CUDA_CALL(cudaGetDeviceProperties(&prop, device_));
    char bus[32] = {0};
    CUDA_CALL(cudaDeviceGetPCIBusId(bus, int(sizeof bus), device_));
    bus_id_ = bus;
    name_ = cat("cuda:", device_, " (", prop.name, ", ", bus, ")");
    n_sm_ = prop.multiProcessorCount;
    decode_splits_ = forced_decode_splits();
    gemv_rows_ = gemv_max_rows();
    size_t free = 0, total = 0;
    CUDA_CALL(cudaMemGetInfo(&free, &total));
    total_memory_ = double(total);

    // Non-blocking: no implicit sync with the legacy default stream, which libraries may use behind our back.
    CUDA_CALL(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUBLAS_CALL(cublasCreate(&cublas_));
    CUBLAS_CALL(cublasSetStream(cublas_, stream_));
    // Default math: CUBLAS_COMPUTE_32F then means true fp32 for F32 GEMMs; TF32 only when asked (linear()).
    // No reduced-precision split-K reductions either: fp16/bf16 GEMMs accumulate in fp32 all the way.
    CUBLAS_CALL(cublasSetMathMode(cublas_, cublasMath_t(CUBLAS_DEFAULT_MATH |
                                                        CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    // A workspace of our own, set once: otherwise cuBLAS allocates one per stream on first use, which is a
    // cudaMalloc that graph capture forbids.
    CUDA_CALL(cudaMalloc(&cublas_workspace_, kCublasWorkspace));
    CUBLAS_CALL(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspace));

    // When a rank fails (core/check.h fail()), the NCCL communicators are aborted next, and ncclCommAbort
    // waits until every graph that captured one of their calls is destroyed: its abort flag ends the kernels,
    // not that wait. So the graphs go first, without waiting for a replay stuck in a collective (CUDA frees
    // it once NCCL's abort has let it finish). Registered before any communicator exists, it runs first.
    add_abort_cleanup([this, alive = alive_] {
        if (*alive) drop_graphs();
    });
}

void CudaBackend::destroy() noexcept {
    *alive_ = false;
    // Errors are ignored here: this runs in the destructor and after a failed init().
    if (stream_) cudaStreamSynchronize(stream_);
    for (cudaGraphExec_t g : graphs_) cudaGraphExecDestroy(g);
    graphs_.clear();
    if (cublas_) cublasDestroy(cublas_);
    cublas_ = nullptr;
    for (int i = 0; i < 2; i++) {
        if (staged_[i]) cudaEventDestroy(staged_[i]);
        if (staging_[i]) cudaFreeHost(staging_[i]);
        staged_[i] = nullptr;
        staging_[i] = nullptr;
    }
    // Blocks still live belong to Buffers that outlive the backend: a caller bug, but the memory goes back.
    for (auto& [p, b] : live_) cudaFree(p);
    for (auto& [bytes, p] : free_) cudaFree(p);
    for (auto& [bytes, p] : graph_free_) cudaFree(p);
    live_.clear();
    free_.clear();
    graph_free_.clear();
    if (cublas_workspace_) cudaFree(cublas_workspace_);
    cublas_workspace_ = nullptr;
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = nullptr;
}

// --- Memory --------------------------------------------------------------------------------------------------
// A caching allocator (PyTorch's idea, without block splitting): a released block goes to a free list keyed by
// size and the next alloc of a size it fits (best fit, at most 2× the request) takes it back; cudaMalloc and
// cudaFree, which synchronize the device, happen only when the list has nothing that fits. Reuse needs no
// event: all work runs in order on stream_, so a kernel still reading a released block runs before any
// kernel of its next owner.
//
// Graph capture. Every block a capture touches (taken during it or released during it) is graph-owned: a
// replay reads and writes it again later, so it never returns to the eager list, where eager work between
// replays could be given it. Released graph-owned blocks go to graph_free_, which only captures draw from:
// replays run one after another on stream_, so graphs may share scratch blocks, as each replay's temporaries
// are dead when it ends. A capture must not cudaMalloc (illegal under ThreadLocal capture mode, and a stall):
// alloc() during capture is served from graph_free_, then from the eager list, or fails the capture with an
// error asking for an eager warm-up run of the same step first (it leaves the blocks the step needs cached).
// Buffers that a graph reads or writes and that live across replays (inputs, outputs, weights, KV cache)
// must be allocated before capture and outlive the graph: the allocator cannot see which pointers a graph uses.

void* CudaBackend::take_from(std::multimap<size_t, void*>& pool, size_t bytes, size_t* block_bytes) {
    auto it = pool.lower_bound(bytes);
    if (it == pool.end() || it->first > 2 * bytes) return nullptr;
    void* p = it->second;
    *block_bytes = it->first;
    cached_bytes_ -= int64_t(it->first);
    pool.erase(it);
    return p;
}

void* CudaBackend::take_block(size_t bytes, size_t* block_bytes) {
    void* p = nullptr;
    if (capturing_) {
        p = take_from(graph_free_, bytes, block_bytes);
        if (!p) p = take_from(free_, bytes, block_bytes);
        if (!p) {
            abandon_capture();  // so that the stream is usable for the error path
            raise("cuda backend: alloc of ", bytes, " bytes during graph capture, and no cached block fits: run the "
                  "captured step once eagerly first, so that the blocks it needs are cached (capture must not "
                  "cudaMalloc)");
        }
    } else {
        p = take_from(free_, bytes, block_bytes);
        if (!p) {
            cudaError_t err = cudaMalloc(&p, bytes);
            if (err == cudaErrorMemoryAllocation) {  // give the cached blocks back and try once more
                cudaGetLastError();
                empty_cache();
                err = cudaMalloc(&p, bytes);
            }
            if (err != cudaSuccess) {
                cudaGetLastError();
                raise("cuda backend: cudaMalloc of ", bytes, " bytes on ", name_, " failed (",
                      cudaGetErrorString(err), "): ", usage_.allocated, " bytes allocated, ",
                      cached_bytes_, " cached, ", device_used_bytes(),
                      " used on the device of ", int64_t(total_memory_));
            }
            *block_bytes = bytes;
        }
    }
    live_[p] = Block{*block_bytes, capturing_};
    usage_.allocated += int64_t(*block_bytes);
    usage_.peak = std::max(usage_.peak, usage_.allocated);
    return p;
}

void CudaBackend::release_block(void* p) {
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: never happens through Buffer
    const Block b = it->second;
    live_.erase(it);
    usage_.allocated -= int64_t(b.bytes);
    cached_bytes_ += int64_t(b.bytes);
    (b.graph_owned || capturing_ ? graph_free_ : free_).emplace(b.bytes, p);
}

void CudaBackend::empty_cache() {
    ENSURE(!capturing_, "cuda backend: empty_cache() during graph capture");
    for (auto& [bytes, p] : free_) {
        CUDA_CALL(cudaFree(p));
        cached_bytes_ -= int64_t(bytes);
    }
    free_.clear();
}

int64_t CudaBackend::device_used_bytes() const {
    size_t free = 0, total = 0;
    CUDA_CALL(cudaMemGetInfo(&free, &total));
    return int64_t(total) - int64_t(free);
}

int64_t CudaBackend::alloc_bytes(int64_t bytes) const { return int64_t(round_size(size_t(std::max<int64_t>(bytes, 0)))); }

Buffer CudaBackend::alloc_uninit(Tensor t) {
    size_t block = 0;
    t.data = take_block(round_size(t.nbytes()), &block);
    return Buffer(t, [this](void* p) { release_block(p); });
}

Buffer CudaBackend::alloc(DType dtype, std::initializer_list<int64_t> shape) {
    Buffer b = alloc_uninit(make_tensor(nullptr, dtype, shape));
    const Tensor& t = b.tensor();
    if (t.nbytes()) CUDA_CALL(cudaMemsetAsync(t.data, 0, t.nbytes(), stream_));
    return b;
}

// cudaMemcpyAsync from pageable memory may return before the driver has read the source (the CUDA docs only
// say it "might be synchronous"), so the caller could not free or reuse it safely. We copy through our own
// pinned buffers instead: once this returns, `src` is no longer referenced, and the device-side copy still
// overlaps with the host (the wait is only for the staging buffer's previous DMA).
void CudaBackend::copy_from_host(const Tensor& dst, const void* src) {
    ENSURE(!capturing_, "cuda backend: copy_from_host during graph capture (copy the inputs before replay)");
    const size_t n = dst.nbytes();
    for (size_t done = 0; done < n;) {
        const int i = next_staging_;
        next_staging_ ^= 1;
        if (!staging_[i]) {
            CUDA_CALL(cudaMallocHost(&staging_[i], kStagingBytes));
            CUDA_CALL(cudaEventCreateWithFlags(&staged_[i], cudaEventDisableTiming));
        }
        // Polled under the watchdog, as synchronize(): the event sits behind everything enqueued before it on
        // stream_, NCCL collectives included, and a peer that died would block cudaEventSynchronize forever.
        wait_until([&] { return CUDA_QUERY(cudaEventQuery(staged_[i])); },
                   "a host-to-device staging buffer (behind the GPU stream)", false);
        const size_t chunk = std::min(kStagingBytes, n - done);
        std::memcpy(staging_[i], static_cast<const char*>(src) + done, chunk);
        CUDA_CALL(cudaMemcpyAsync(static_cast<char*>(dst.data) + done, staging_[i], chunk, cudaMemcpyHostToDevice,
                                  stream_));
        CUDA_CALL(cudaEventRecord(staged_[i], stream_));
        done += chunk;
    }
}

void CudaBackend::copy_to_host(void* dst, const Tensor& src) {
    ENSURE(!capturing_, "cuda backend: copy_to_host during graph capture");
    if (src.nbytes() == 0) return;
    // A copy into pageable memory blocks inside the driver until the stream reaches it, out of the watchdog's
    // sight: drain the stream first under the watchdog (a collective whose peer died never finishes).
    synchronize();
    CUDA_CALL(cudaMemcpyAsync(dst, src.data, src.nbytes(), cudaMemcpyDeviceToHost, stream_));
    synchronize();
}

// Polled under the watchdog (--collective-timeout) instead of cudaStreamSynchronize: an NCCL collective
// whose peer died never finishes, and a blocked rank could neither notice nor abort the communicators.
void CudaBackend::synchronize() {
    ENSURE(!capturing_, "cuda backend: synchronize during graph capture");  // a query would end the capture
    wait_until([&] { return CUDA_QUERY(cudaStreamQuery(stream_)); },
               "the GPU stream (kernels and NCCL collectives)", false);
}

namespace {
// Two events around the ops between them on the stream: cudaEventElapsedTime is the GPU's time for them.
struct EventStopwatch final : Stopwatch {
    cudaStream_t stream;
    cudaEvent_t begin = nullptr, end = nullptr;
    explicit EventStopwatch(cudaStream_t s) : stream(s) {
        CUDA_CALL(cudaEventCreate(&begin));
        CUDA_CALL(cudaEventCreate(&end));
    }
    ~EventStopwatch() override {
        cudaEventDestroy(begin);
        cudaEventDestroy(end);
    }
    void start() override { CUDA_CALL(cudaEventRecord(begin, stream)); }
    void stop() override { CUDA_CALL(cudaEventRecord(end, stream)); }
    bool done() override { return CUDA_QUERY(cudaEventQuery(end)); }
    double seconds() override {
        CUDA_CALL(cudaEventSynchronize(end));
        float ms = 0;
        CUDA_CALL(cudaEventElapsedTime(&ms, begin, end));
        return ms / 1e3;
    }
};
}  // namespace

std::unique_ptr<Stopwatch> CudaBackend::make_stopwatch() {
    ENSURE(!capturing_, "cuda backend: a stopwatch during graph capture");
    return std::make_unique<EventStopwatch>(stream_);
}

// --- Ops -----------------------------------------------------------------------------------------------------

namespace {
// fp32 accumulation; for F32 inputs true fp32 unless TF32 was asked for.
cublasComputeType_t gemm_compute(DType input, bool allow_tf32) {
    return input == DType::F32 && allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}
}  // namespace

bool CudaBackend::use_gemv(const Tensor& x, const Tensor& w) const {
    return x.rows() <= gemv_rows_ && kernels::gemv_fits(x.rows(), x.cols(), int(dtype_size(x.dtype)), x.data, w.data);
}

void CudaBackend::linear(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias) {
    expect_float(x, "linear", "input");
    expect(w, x.dtype, "linear", "weight");
    ENSURE(y.dtype == x.dtype || y.dtype == DType::F32, "cuda backend: linear: output ", dtype_name(y.dtype),
           " for ", dtype_name(x.dtype), " input (expected the same or F32)");
    const int64_t n = x.rows(), d_in = x.cols(), d_out = w.rows();
    ENSURE(w.cols() == d_in && y.rows() == n && y.cols() == d_out, "linear: shapes y[", y.rows(), ",", y.cols(),
           "] x[", n, ",", d_in, "] w[", d_out, ",", w.cols(), "] do not match");
    ENSURE(n < INT_MAX && d_in < INT_MAX && d_out < INT_MAX, "linear: dimensions beyond cuBLAS's int");
    ENSURE(!bias || y.dtype == x.dtype, "cuda backend: linear: a bias needs the output in the input's dtype (",
           dtype_name(x.dtype), "), not ", dtype_name(y.dtype));
    if (n == 0) return;
    if (use_gemv(x, w)) {
        kernels::gemv(y.data, y.dtype, x.data, w.data, x.dtype, n, d_in, d_out, 1, 0, stream_);
        if (bias) add_bias(y, *bias);
        return;
    }
    // Row-major y = x·wᵀ is column-major yᵀ[d_out, n] = w_cm[d_in, d_out]ᵀ · x_cm[d_in, n]: cuBLAS sees each
    // row-major matrix as its transpose, so no data moves.
    const float alpha = 1.0f, beta = 0.0f;
    CUBLAS_CALL(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(d_out), int(n), int(d_in), &alpha, w.data,
                             cuda_type(w.dtype), int(d_in), x.data, cuda_type(x.dtype), int(d_in), &beta, y.data,
                             cuda_type(y.dtype), int(d_out), gemm_compute(x.dtype, allow_tf32_), CUBLAS_GEMM_DEFAULT));
    if (bias) add_bias(y, *bias);
}

void CudaBackend::linear_stacked(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias) {
    expect_float(x, "linear_stacked", "input");
    for (const Tensor* t : {&y, &w, &bias}) expect(*t, x.dtype, "linear_stacked", "output/weight/bias");
    check_linear_stacked(y, x, w, bias);
    const int64_t n = x.rows(), d_in = x.cols(), batch = y.shape[0], cap = y.shape[1], d_out = y.shape[2];
    ENSURE(d_in < INT_MAX && d_out < INT_MAX && batch < INT_MAX, "linear_stacked: dimensions beyond cuBLAS's int");
    if (n == 0) return;
    if (use_gemv(x, w)) {
        kernels::gemv(y.data, y.dtype, x.data, w.data, x.dtype, n, d_in, d_out, batch, cap * d_out, stream_);
        kernels::add_bias_stacked(y.data, bias.data, y.dtype, batch, n, d_out, cap, stream_);
        return;
    }
    // As linear(), batch b being w's b-th row block and y's b-th [cap, d_out] block; every batch reads the same
    // x (stride 0).
    const float alpha = 1.0f, beta = 0.0f;
    const cudaDataType type = cuda_type(x.dtype);
    CUBLAS_CALL(cublasGemmStridedBatchedEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(d_out), int(n), int(d_in), &alpha,
                                           w.data, type, int(d_in), d_out * d_in, x.data, type, int(d_in), 0, &beta,
                                           y.data, type, int(d_out), cap * d_out, int(batch),
                                           gemm_compute(x.dtype, allow_tf32_), CUBLAS_GEMM_DEFAULT));
    kernels::add_bias_stacked(y.data, bias.data, y.dtype, batch, n, d_out, cap, stream_);
}

void CudaBackend::layer_norm(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
    expect_layer_norm(y, x, gamma, beta, "layer_norm");
    kernels::layer_norm(y.data, x.data, gamma.data, beta.data, x.dtype, gamma.dtype, x.rows(), x.cols(), eps, stream_);
}

void CudaBackend::add(const Tensor& y, const Tensor& x) {
    expect_float(y, "add", "y");
    expect(x, y.dtype, "add", "x");
    ENSURE(y.numel() == x.numel(), "add: ", y.numel(), " vs ", x.numel(), " elements");
    kernels::add(y.data, x.data, y.dtype, y.numel(), stream_);
}

void CudaBackend::add_bias_rows(const Tensor& y, const Tensor& bias, bool relu, const char* op) {
    expect_float(y, op, "y");
    expect(bias, y.dtype, op, "bias");
    check_bias(y, bias, op);
    kernels::add_bias(y.data, bias.data, y.dtype, y.rows(), y.cols(), relu, stream_);
}

void CudaBackend::add_bias(const Tensor& y, const Tensor& bias) { add_bias_rows(y, bias, false, "add_bias"); }
void CudaBackend::add_bias_relu(const Tensor& y, const Tensor& bias) { add_bias_rows(y, bias, true, "add_bias_relu"); }

void CudaBackend::add_residual(const Tensor& h, const Tensor& y, const Tensor& bias) {
    expect_residual(h, y, bias, "add_residual");
    kernels::add_residual(h.data, y.data, bias.data, h.dtype, h.rows(), h.cols(), stream_);
}

void CudaBackend::add_residual_layer_norm(const Tensor& out, const Tensor& h, const Tensor& y, const Tensor& bias,
                                          const Tensor& gamma, const Tensor& beta, float eps) {
    expect_residual(h, y, bias, "add_residual_layer_norm");
    expect_layer_norm(out, h, gamma, beta, "add_residual_layer_norm");
    kernels::add_residual_layer_norm(out.data, h.data, y.data, bias.data, gamma.data, beta.data, h.dtype, gamma.dtype,
                                     h.rows(), h.cols(), eps, stream_);
}

void CudaBackend::embedding(const Tensor& y, const Tensor& ids, const Tensor& table, int64_t row_begin) {
    expect(ids, DType::I32, "embedding", "ids");
    expect_float(table, "embedding", "table");
    expect(y, table.dtype, "embedding", "output");
    const int64_t n = ids.numel(), d = table.cols();
    ENSURE(y.rows() == n && y.cols() == d, "embedding: output [", y.rows(), ",", y.cols(), "] for ", n, " ids of ",
           d);
    kernels::embedding(y.data, ids.i32(), table.data, table.dtype, n, d, row_begin, table.rows(), stream_);
}

void CudaBackend::gather_rows(const Tensor& y, const Tensor& x, const Tensor& rows) {
    expect(rows, DType::I32, "gather_rows", "rows");
    expect_float(x, "gather_rows", "x");
    expect(y, x.dtype, "gather_rows", "y");
    ENSURE(y.rows() == rows.numel() && y.cols() == x.cols(), "gather_rows: y[", y.rows(), ",", y.cols(), "] for ",
           rows.numel(), " rows of ", x.cols());
    kernels::gather_rows(y.data, x.data, rows.i32(), x.dtype, rows.numel(), x.cols(), x.rows(), stream_);
}

void CudaBackend::argmax_rows(const Tensor& idx, const Tensor& val, const Tensor& x, int64_t n_cols) {
    expect(x, DType::F32, "argmax_rows", "x");
    expect(idx, DType::I32, "argmax_rows", "idx");
    expect(val, DType::F32, "argmax_rows", "val");
    ENSURE(n_cols > 0 && n_cols <= x.cols() && idx.numel() == x.rows() && val.numel() == x.rows(), "argmax_rows: ",
           x.rows(), " rows of ", x.cols(), " (", n_cols, " read) into ", idx.numel(), " and ", val.numel());
    kernels::argmax_rows(idx.i32(), val.f32(), x.data, x.dtype, x.rows(), n_cols, x.cols(), stream_);
}

void CudaBackend::write_kv(const Tensor& k_cache, const Tensor& v_cache, const Tensor& k, const Tensor& v,
                           const Tensor& slot_mapping) {
    expect_float(k_cache, "write_kv", "k_cache");
    for (const Tensor* t : {&v_cache, &k, &v}) expect(*t, k_cache.dtype, "write_kv", "k/v");
    expect(slot_mapping, DType::I32, "write_kv", "slot_mapping");
    const int64_t d = k.cols();
    ENSURE(v.rows() == k.rows() && v.cols() == d && k_cache.cols() == d && v_cache.cols() == d &&
               v_cache.rows() == k_cache.rows() && slot_mapping.numel() == k.rows(),
           "write_kv: k[", k.rows(), ",", d, "] v[", v.rows(), ",", v.cols(), "] caches [", k_cache.rows(), ",",
           k_cache.cols(), "] slots ", slot_mapping.numel());
    kernels::write_kv(k_cache.data, v_cache.data, k.data, v.data, slot_mapping.i32(), k.dtype, k.rows(), d,
                      k_cache.rows(), stream_);
}

void CudaBackend::attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                            const AttentionInputs& in, int n_heads_local, float scale) {
    expect_float(q, "attention", "q");
    for (const Tensor* t : {&out, &k_cache, &v_cache}) expect(*t, q.dtype, "attention", "out/cache");
    for (const Tensor* t : {&in.query_start, &in.positions, &in.block_tables})
        expect(*t, DType::I32, "attention", "query_start/positions/block_tables");
    const int64_t d_row = q.cols();
    ENSURE(n_heads_local > 0 && d_row % n_heads_local == 0, "attention: rows of ", d_row, " for ", n_heads_local,
           " heads");
    ENSURE(out.rows() == q.rows() && out.cols() == d_row && k_cache.cols() == d_row && v_cache.cols() == d_row &&
               v_cache.rows() == k_cache.rows(),
           "attention: out[", out.rows(), ",", out.cols(), "] q[", q.rows(), ",", d_row, "] caches [",
           k_cache.rows(), ",", k_cache.cols(), "]");
    ENSURE(in.positions.numel() == q.rows() && in.query_start.numel() >= 1 && in.block_tables.ndim == 2 &&
               in.block_tables.rows() == in.query_start.numel() - 1,
           "attention: ", in.positions.numel(), " positions, ", in.query_start.numel(), " query starts and ",
           in.block_tables.rows(), " block tables for ", q.rows(), " tokens");
    kernels::PagedAttentionShape sh;
    sh.n_tokens = q.rows();
    sh.n_seqs = in.query_start.numel() - 1;
    sh.n_heads = n_heads_local;
    sh.d_head = d_row / n_heads_local;
    sh.block_size = in.block_size;
    sh.max_blocks = in.block_tables.cols();
    sh.n_slots = k_cache.rows();
    const kernels::DecodeSplits splits = kernels::decode_splits(sh, n_sm_, decode_splits_);
    // Scratch until the combine kernel has run (stream order keeps it alive long enough), not zeroed: every
    // partial the combine reads is written first.
    Buffer partials;
    if (splits.max > 1)
        partials = alloc_uninit(make_tensor(nullptr, DType::F32, {kernels::decode_partials_floats(sh, splits.max)}));
    kernels::paged_attention(out.data, q.data, k_cache.data, v_cache.data, in.query_start.i32(), in.positions.i32(),
                             in.block_tables.i32(), q.dtype, sh, scale, splits,
                             splits.max > 1 ? partials.tensor().f32() : nullptr, stream_);
}

void CudaBackend::convert(const Tensor& y, const Tensor& x) {
    expect_float(x, "convert", "x");
    expect_float(y, "convert", "y");
    ENSURE(y.numel() == x.numel(), "convert: ", y.numel(), " vs ", x.numel(), " elements");
    if (y.dtype == x.dtype) {
        if (x.nbytes()) CUDA_CALL(cudaMemcpyAsync(y.data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, stream_));
        return;
    }
    kernels::convert(y.data, y.dtype, x.data, x.dtype, x.numel(), stream_);
}

// --- Graphs --------------------------------------------------------------------------------------------------
// ThreadLocal capture mode: it forbids "unsafe" calls (cudaMalloc, synchronous copies) on this thread, so a
// step that would stall or allocate fails at capture instead of silently misbehaving, while other threads
// (NCCL's proxy thread) stay free. NCCL's docs ask for ThreadLocal (not the default Global) when a P2P
// send/recv to a peer is captured before any eager one (its lazy connection setup makes such calls), which
// the pipeline stages' send/recv may be; all-reduces capture under it as well.

void CudaBackend::begin_capture() {
    ENSURE(!capturing_, "cuda backend: begin_capture while a capture is in progress");
    CUDA_CALL(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    capturing_ = true;
}

int CudaBackend::end_capture() {
    ENSURE(capturing_, "cuda backend: end_capture without begin_capture");
    capturing_ = false;
    cudaGraph_t graph = nullptr;
    CUDA_CALL(cudaStreamEndCapture(stream_, &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    CUDA_CALL(err);
    graphs_.push_back(exec);
    return int(graphs_.size()) - 1;
}

void CudaBackend::abandon_capture() noexcept {
    if (!capturing_) return;
    capturing_ = false;
    cudaGraph_t g = nullptr;
    if (cudaStreamEndCapture(stream_, &g) == cudaSuccess && g) cudaGraphDestroy(g);
    cudaGetLastError();  // an invalidated capture's error is not this caller's
}

void CudaBackend::drop_graphs() noexcept {
    abandon_capture();
    for (cudaGraphExec_t g : graphs_) cudaGraphExecDestroy(g);
    graphs_.clear();
}

void CudaBackend::release_graphs() {
    // A capture that a failure interrupted (the step being captured threw) is abandoned: its unfinished graph
    // holds references on the NCCL communicators as well.
    abandon_capture();
    // A replay may still run. Polled under the watchdog: this runs while a failed rank unwinds too, before
    // its communicators are aborted, and a replayed collective whose peers went elsewhere never finishes.
    std::exception_ptr unfinished;
    try {
        synchronize();
    } catch (...) {
        unfinished = std::current_exception();
    }
    // Destroyed even then (CUDA frees a graph still in flight once it completes): the graphs hold references
    // on the NCCL communicators, whose destruction would otherwise wait for them.
    drop_graphs();
    if (unfinished) std::rethrow_exception(unfinished);
}

void CudaBackend::replay(int id) {
    ENSURE(!capturing_, "cuda backend: replay during a capture");
    ENSURE(id >= 0 && id < int(graphs_.size()), "cuda backend: no graph ", id, " (", graphs_.size(), " captured)");
    CUDA_CALL(cudaGraphLaunch(graphs_[size_t(id)], stream_));
}

}  // namespace ls
