#include "config/options.h"

#include <boost/program_options.hpp>
#include <sstream>

#include "core/check.h"

namespace ls {

namespace po = boost::program_options;

namespace {

po::options_description describe(RunOptions& o, std::string& device_memory) {
    po::options_description d(o.bench ? "lockstep bench (run under mpirun -np TP×PP)"
                                      : "lockstep generate (run under mpirun -np TP×PP)");
    d.add_options()
        ("help,h", "show this help")
        ("model", po::value(&o.model)->required(), "Hugging Face model directory (config.json + weights)")
        ("tokenizer", po::value(&o.tokenizer), "directory with vocab.json and merges.txt (default: --model)")
        ("tensor-parallel-size", po::value(&o.tensor_parallel_size)->default_value(1), "tensor-parallel ranks (-tp)")
        ("pipeline-parallel-size", po::value(&o.pipeline_parallel_size)->default_value(1),
         "pipeline stages (-pp)")
        ("pipeline-layer-partition", po::value(&o.pipeline_layer_partition),
         "layers per pipeline stage, e.g. 10,14 (default: an even split)")
        ("pipeline-batches-in-flight", po::value(&o.pipeline_batches_in_flight)->default_value(0),
         "batches in the pipeline at once (default: one per stage; 1: one at a time)")
        ("dtype", po::value(&o.dtype)->default_value("auto"), "auto | float32 | float16 | bfloat16")
        ("max-tokens", po::value(&o.max_tokens)->default_value(16), "tokens to generate per prompt")
        ("temperature", po::value(&o.temperature)->default_value(1.0f), "0 = greedy")
        ("top-p", po::value(&o.top_p)->default_value(1.0f), "nucleus sampling mass in (0, 1]")
        ("top-k", po::value(&o.top_k)->default_value(-1), "keep the k most likely tokens (-1 or 0 = all)")
        ("seed", po::value(&o.seed)->default_value(0), "random seed of the sampler")
        ("logprobs", po::value(&o.logprobs)->default_value(0), "top-K log-probabilities per generated token (JSON)")
        ("ignore-eos", po::bool_switch(&o.ignore_eos), "keep generating past </s>")
        ("prompt", po::value(&o.prompts)->composing(), "a prompt (repeatable)")
        ("prompts-file", po::value(&o.prompts_file), "a file with one prompt per line")
        ("stop", po::value(&o.stop)->composing(), "stop string (repeatable); not included in the output")
        ("max-model-len", po::value(&o.max_model_len)->default_value(0),
         "longest sequence (prompt + output) in tokens (default: the model's max_position_embeddings)")
        ("block-size", po::value(&o.block_size)->default_value(16), "tokens per KV-cache block")
        ("max-num-seqs", po::value(&o.max_num_seqs)->default_value(256), "most sequences in one step")
        ("max-num-batched-tokens", po::value(&o.max_num_batched_tokens)->default_value(0),
         "most tokens in one step (default: max(max-model-len, 2048))")
        ("output-json", po::value(&o.output_json), "write the requests and their outputs as JSON")
        ("report", po::value(&o.report),
         "HDF5 report of the run (default: results/<model>-tp<T>-pp<P>-<time>.h5; \"none\": no report)")
        ("gpu-memory-utilization", po::value(&o.gpu_memory_utilization)->default_value(0.9),
         "fraction of the device memory for weights, activations and the KV cache")
        ("device-memory", po::value(&device_memory),
         "memory of the CPU backend's device per rank, e.g. 22.5GiB (default: host RAM / ranks on the host)")
        ("num-gpu-blocks-override", po::value(&o.num_gpu_blocks_override)->default_value(0),
         "use this many KV blocks instead of sizing them from memory")
        ("collective-timeout", po::value(&o.collective_timeout)->default_value(600),
         "seconds a rank waits for its peers (plan, collectives, stage hand-off) before ending the job; "
         "10x while loading; 0: forever")
        ("check-lockstep", po::bool_switch(&o.check_lockstep),
         "every step, each rank sends the driver a hash of the step plan it executes; a mismatch ends the job "
         "naming the first rank that differs")
        ("device", po::value(&o.device)->default_value("auto"), "auto | cpu | cuda (auto: cuda when a GPU is visible)")
        ("comm", po::value(&o.comm)->default_value("auto"),
         "auto | mpi | nccl: TP/PP collectives (auto: nccl with --device cuda; mpi lets two ranks share one GPU)")
        ("enforce-eager", po::bool_switch(&o.enforce_eager), "CUDA: run decode steps eagerly, without CUDA graphs")
        ("max-cudagraph-capture-size", po::value(&o.max_cudagraph_capture_size)->default_value(256),
         "CUDA: capture graphs for decode batches of 1, 2, 4, then multiples of 8 up to this many sequences (at "
         "most --max-num-seqs); larger decode batches run eagerly")
        ("profile-ops", po::bool_switch(&o.profile_ops),
         "time every op (GEMMs, attention, layer norm, ...) on the device, for the report's time by op; "
         "steps run eagerly (no CUDA graphs)")
        ("inject-fault", po::value(&o.inject_fault), "make one rank fail on purpose (tests): "
         "rank=R,at=load|step:N,kind=throw|exit|sigkill|hang|diverge|corrupt-shard")
        ("quiet,q", po::bool_switch(&o.quiet), "do not print the generated text on stdout");
    if (o.bench)
        d.add_options()
            ("input-len", po::value(&o.input_len)->default_value(128), "prompt tokens per synthetic request")
            ("output-len", po::value(&o.output_len)->default_value(128), "tokens generated per request")
            ("num-prompts", po::value(&o.num_prompts)->default_value(32), "number of requests")
            ("request-rate", po::value(&o.request_rate)->default_value(0),
             "requests per second, Poisson arrivals (0: all at once)");
    return d;
}

}  // namespace

std::vector<std::string> spell_out_parallel_aliases(int argc, const char* const* argv, int first) {
    std::vector<std::string> args;
    for (int i = first; i < argc; i++) {
        std::string a = argv[i];
        if (a == "-tp") a = "--tensor-parallel-size";
        if (a == "-pp") a = "--pipeline-parallel-size";
        if (a.rfind("-tp=", 0) == 0) a = "--tensor-parallel-size=" + a.substr(4);
        if (a.rfind("-pp=", 0) == 0) a = "--pipeline-parallel-size=" + a.substr(4);
        args.push_back(a);
    }
    return args;
}

namespace {

void validate(const RunOptions& o) {
    ENSURE(o.tensor_parallel_size >= 1, "--tensor-parallel-size must be at least 1, got ", o.tensor_parallel_size);
    ENSURE(o.pipeline_parallel_size >= 1, "--pipeline-parallel-size must be at least 1, got ",
           o.pipeline_parallel_size);
    ENSURE(o.pipeline_batches_in_flight >= 0, "--pipeline-batches-in-flight must be at least 1 (0: one per stage)");
    ENSURE(o.dtype == "auto" || o.dtype == "float32" || o.dtype == "float16" || o.dtype == "bfloat16",
           "--dtype must be auto, float32, float16 or bfloat16, got \"", o.dtype, "\"");
    ENSURE(o.max_tokens >= 1, "--max-tokens must be at least 1, got ", o.max_tokens);
    ENSURE(o.temperature >= 0.0f, "--temperature must be >= 0, got ", o.temperature);
    ENSURE(o.top_p > 0.0f && o.top_p <= 1.0f, "--top-p must be in (0, 1], got ", o.top_p);
    ENSURE(o.top_k >= -1, "--top-k must be -1 or 0 (all) or at least 1, got ", o.top_k);
    ENSURE(o.logprobs >= 0 && o.logprobs <= 20, "--logprobs must be in [0, 20], got ", o.logprobs);
    ENSURE(o.max_model_len >= 0, "--max-model-len must be positive, got ", o.max_model_len);
    ENSURE(o.block_size >= 1 && o.block_size <= 1024, "--block-size must be in [1, 1024], got ", o.block_size);
    ENSURE(o.max_num_seqs >= 1, "--max-num-seqs must be at least 1, got ", o.max_num_seqs);
    ENSURE(o.max_cudagraph_capture_size >= 1, "--max-cudagraph-capture-size must be at least 1 (--enforce-eager "
           "turns the graphs off), got ", o.max_cudagraph_capture_size);
    ENSURE(o.max_num_batched_tokens >= 0, "--max-num-batched-tokens must be positive, got ",
           o.max_num_batched_tokens);
    ENSURE(o.gpu_memory_utilization > 0 && o.gpu_memory_utilization <= 1,
           "--gpu-memory-utilization must be in (0, 1], got ", o.gpu_memory_utilization);
    ENSURE(o.device == "auto" || o.device == "cpu" || o.device == "cuda", "--device ", o.device,
           ": expected auto, cpu or cuda");
    ENSURE(o.comm == "auto" || o.comm == "mpi" || o.comm == "nccl", "--comm ", o.comm, ": expected auto, mpi or nccl");
    ENSURE(!(o.device == "cpu" && o.comm == "nccl"), "--comm nccl needs --device cuda (the CPU backend's collectives "
           "go over MPI)");
    ENSURE(o.collective_timeout >= 0, "--collective-timeout must be >= 0 seconds (0: no limit), got ",
           o.collective_timeout);
    ENSURE(o.num_gpu_blocks_override >= 0, "--num-gpu-blocks-override must be positive");
    if (o.bench) {
        ENSURE(o.input_len >= 1 && o.output_len >= 1 && o.num_prompts >= 1,
               "--input-len, --output-len and --num-prompts must be at least 1");
        ENSURE(o.request_rate >= 0, "--request-rate must be >= 0 (0: all at once), got ", o.request_rate);
        return;
    }
    ENSURE(!o.prompts.empty() || !o.prompts_file.empty(), "no prompts: give --prompt TEXT or --prompts-file FILE");
    for (const auto& s : o.stop) ENSURE(!s.empty(), "--stop strings must not be empty");
}

}  // namespace

double parse_size(const std::string& text, const char* flag) {
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        raise(flag, " ", text, ": not a size (e.g. 24GiB, 512MiB, 8GB)");
    }
    const std::string unit = text.substr(used);
    const double mult = unit.empty() || unit == "B"           ? 1.0
                        : unit == "KiB"                       ? 1024.0
                        : unit == "MiB"                       ? 1024.0 * 1024
                        : unit == "GiB"                       ? 1024.0 * 1024 * 1024
                        : unit == "KB"                        ? 1e3
                        : unit == "MB"                        ? 1e6
                        : unit == "GB"                        ? 1e9
                                                              : -1;
    ENSURE(mult > 0 && v > 0, flag, " ", text, ": not a size (e.g. 24GiB, 512MiB, 8GB)");
    return v * mult;
}

ParsedOptions parse_run_options(int argc, const char* const* argv) {
    ParsedOptions out;
    RunOptions& o = out.run;
    o.bench = argc > 1 && std::string(argv[1]) == "bench";
    std::string device_memory;
    auto desc = describe(o, device_memory);
    std::ostringstream usage;
    usage << desc;
    for (int i = 0; i < argc; i++) o.command_line += (i ? " " : "") + std::string(argv[i]);
    try {
        po::variables_map vm;
        po::store(po::command_line_parser(spell_out_parallel_aliases(argc, argv, 2)).options(desc).run(), vm);
        if (vm.count("help")) {
            out.exit_code = 0;
            out.message = usage.str();
            return out;
        }
        po::notify(vm);
        if (!device_memory.empty()) o.device_memory = parse_size(device_memory, "--device-memory");
        validate(o);
    } catch (const po::error& e) {
        out.exit_code = 2;
        out.message = cat("error: ", e.what(), "\n(see lockstep ", o.bench ? "bench" : "generate", " --help)");
    } catch (const Error& e) {
        out.exit_code = 2;
        out.message = cat("error: ", e.what());
    }
    return out;
}

}  // namespace ls
