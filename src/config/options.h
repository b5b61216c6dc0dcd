// `lockstep generate` and `lockstep bench` flags (vLLM's names) → RunOptions, validated in one place. Every rank parses the same
// argv, so every rank reaches the same verdict: rank 0 prints it, all exit with the same code, no hang.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ls {

struct RunOptions {
    std::string model;             // Hugging Face model directory
    std::string tokenizer;         // directory with vocab.json + merges.txt (default: the model directory)
    int tensor_parallel_size = 1;
    int pipeline_parallel_size = 1;
    std::string pipeline_layer_partition;  // "10,14": layers per stage (default: even split)
    int pipeline_batches_in_flight = 0;    // 0 → one per stage
    std::string dtype = "auto";    // auto | float32 | float16 | bfloat16
    int max_tokens = 16;
    float temperature = 1.0f;
    float top_p = 1.0f;
    int top_k = -1;
    uint64_t seed = 0;
    int logprobs = 0;
    bool ignore_eos = false;
    std::vector<std::string> prompts;
    std::string prompts_file;
    std::vector<std::string> stop;
    int max_model_len = 0;          // 0 → the model's max_position_embeddings
    int block_size = 16;
    int max_num_seqs = 256;
    int max_num_batched_tokens = 0;  // 0 → max(max_model_len, 2048)
    double gpu_memory_utilization = 0.9;  // fraction of the device's memory the engine may use
    double device_memory = 0;             // bytes of the "device"; 0 → the CPU backend's share of host RAM
    int num_gpu_blocks_override = 0;      // > 0: use this many KV blocks instead of the sizing (as vLLM)
    std::string output_json;
    double collective_timeout = 600;  // seconds any rank waits for its peers while serving (0: forever)
    bool check_lockstep = false;     // every step, all ranks prove they execute the driver's plan
    std::string device = "auto";     // auto | cpu | cuda (auto: cuda when a GPU is visible)
    std::string comm = "auto";       // auto | mpi | nccl: the TP/PP collectives (auto: nccl on cuda, else mpi)
    bool enforce_eager = false;      // CUDA: no CUDA graphs for decode steps (vLLM's --enforce-eager)
    int max_cudagraph_capture_size = 256;  // CUDA: the largest decode batch given a graph (vLLM's option)
    bool profile_ops = false;        // time every backend op on the device (implies eager steps)
    std::string inject_fault;        // test hook: rank=R,at=load|step:N,kind=throw|exit|sigkill|hang
    std::string report;              // HDF5 report path; "" → results/<model>-tp<T>-pp<P>-<time>.h5; "none" → no report
    bool quiet = false;              // no generated text on stdout
    std::string command_line;        // argv joined, for logs and reports

    // lockstep bench: synthetic requests, as vLLM's benchmark_serving/benchmark_throughput.
    bool bench = false;
    int input_len = 128;
    int output_len = 128;
    int num_prompts = 32;
    double request_rate = 0;         // requests per second (Poisson arrivals); 0 → all at once
};

struct ParsedOptions {
    RunOptions run;
    int exit_code = -1;   // -1: go on; 0: --help printed; 2: bad flags
    std::string message;  // usage text or the error, for rank 0 to print
};

// argv[0] is the program, argv[1] the subcommand: "generate" or "bench".
ParsedOptions parse_run_options(int argc, const char* const* argv);

// argv[first..] with vLLM's -tp/-pp spelled out as --tensor-parallel-size/--pipeline-parallel-size (Boost's
// short options are one character).
std::vector<std::string> spell_out_parallel_aliases(int argc, const char* const* argv, int first);

// "24GiB", "22.5GiB", "512MiB", "8GB" (10^9), "1048576" → bytes. Throws ls::Error naming `flag`.
double parse_size(const std::string& text, const char* flag);

}  // namespace ls
