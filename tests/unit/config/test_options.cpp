#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config/options.h"

using namespace ls;

namespace {
ParsedOptions parse(std::vector<std::string> args) {
    args.insert(args.begin(), {"lockstep", "generate"});
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    return parse_run_options(int(argv.size()), argv.data());
}
}  // namespace

TEST_CASE("options: vLLM's flag names, -tp/-pp aliases, repeatable prompts") {
    auto p = parse({"--model", "m", "-tp", "4", "--prompt", "a", "--prompt", "b", "--temperature", "0",
                    "--max-tokens", "8", "--stop", "\n", "--logprobs", "5"});
    REQUIRE(p.exit_code == -1);
    CHECK(p.run.tensor_parallel_size == 4);
    CHECK(p.run.prompts == std::vector<std::string>{"a", "b"});
    CHECK(p.run.temperature == 0.0f);
    CHECK(p.run.max_tokens == 8);
    CHECK(p.run.logprobs == 5);
    CHECK(parse({"--model", "m", "--tensor-parallel-size=2", "--prompt", "x"}).run.tensor_parallel_size == 2);
}

TEST_CASE("options: errors name the flag and exit 2") {
    auto expect = [](std::vector<std::string> args, const char* needle) {
        auto p = parse(args);
        CHECK(p.exit_code == 2);
        CHECK_MESSAGE(p.message.find(needle) != std::string::npos, p.message);
    };
    expect({"--model", "m", "--prompt", "x", "--bogus"}, "bogus");
    expect({"--prompt", "x"}, "model");
    expect({"--model", "m"}, "no prompts");
    expect({"--model", "m", "--prompt", "x", "--top-p", "1.5"}, "--top-p");
    expect({"--model", "m", "--prompt", "x", "--top-k", "-2"}, "--top-k must be -1 or 0 (all) or at least 1");
    // 0 is "all" as in transformers and TensorRT-LLM (and vLLM since it stopped rejecting it).
    CHECK(parse({"--model", "m", "--prompt", "x", "--top-k", "0"}).exit_code == -1);
    expect({"--model", "m", "--prompt", "x", "-tp", "0"}, "--tensor-parallel-size");
    expect({"--model", "m", "--prompt", "x", "--pipeline-batches-in-flight", "-1"}, "--pipeline-batches-in-flight");
    CHECK(parse({"--model", "m", "--prompt", "x", "-pp", "2"}).run.pipeline_parallel_size == 2);
    expect({"--model", "m", "--prompt", "x", "--dtype", "int4"}, "--dtype");
    expect({"--model", "m", "--prompt", "x", "--max-tokens", "abc"}, "max-tokens");
    expect({"--model", "m", "--prompt", "x", "--max-cudagraph-capture-size", "0"}, "--max-cudagraph-capture-size");
    CHECK(parse({"--model", "m", "--prompt", "x"}).run.max_cudagraph_capture_size == 256);
    const ParsedOptions eight = parse({"--model", "m", "--prompt", "x", "--max-cudagraph-capture-size", "8"});
    CHECK(eight.run.max_cudagraph_capture_size == 8);
    CHECK(parse({"--help"}).exit_code == 0);
}
