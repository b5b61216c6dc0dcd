// One rank's engine, set up in two phases so that the driver can refuse bad prompts before any weight is
// read: prepare() (process grid, config.json, flag checks), then load() (backend, shards, KV cache sizing).
#pragma once
#include <memory>

#include "backend/op_profile.h"
#include "comm/mpi_communicator.h"
#include "config/options.h"
#include "engine/decode_graphs.h"
#include "engine/kv_sizing.h"

namespace ls {

struct Runtime {
    ProcessGrid grid;
    ModelConfig cfg;
    int max_model_len = 0;
    int max_num_batched_tokens = 0;
    std::unique_ptr<Backend> be;
    int cpu_threads = 1;  // this rank's share of its host's cores: the CPU backend's BLAS threads
    ProfilingBackend* profile = nullptr;  // be itself, with --profile-ops
    std::string device;  // "cpu" or "cuda" (--device resolved)
    std::string comm;    // "mpi" or "nccl" (--comm resolved)
    DType dtype = DType::F32;
    std::unique_ptr<Communicator> tp;
    std::unique_ptr<Communicator> pp;
    PipelineStage stage;
    std::unique_ptr<Checkpoint> ckpt;
    std::unique_ptr<OptModel> model;
    KvSizing sizing;
    KvCache kv;
    std::unique_ptr<DecodeGraphs> graphs;  // CUDA graphs for decode steps; null when eager
    std::string hosts;       // every host of the job, for the report
    std::string start_time;  // ISO 8601, UTC
    double load_seconds = 0;
    int64_t device_used_at_start = 0;  // Backend::device_used_bytes once the KV cache and the graphs exist
    int64_t graph_memory = 0;  // what capturing the CUDA graphs added outside the backend's buffers

    ~Runtime();
};

std::string utc_now();  // "2026-11-25T03:43:18Z"

std::unique_ptr<Runtime> prepare_runtime(const RunOptions& o);
void load_runtime(Runtime& rt, const RunOptions& o);

struct EngineStats;
// Per worker: steps, forward time, and each collective's calls, bytes and seconds.
void log_engine_stats(const Runtime& rt, const EngineStats& st);

}  // namespace ls
