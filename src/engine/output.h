// What the driver hands back: the generated text on stdout and the --output-json file.
#pragma once
#include <string>
#include <vector>

#include "engine/sequence.h"

namespace ls {

// {"requests": [{"prompt", "prompt_token_ids", "token_ids", "text", "finish_reason", "logprobs", ["error"]}]}
// in prompt order; logprobs is [[{"id", "logprob"}, ...] per generated position] or null.
std::string requests_to_json(const std::vector<Sequence>& requests);
void write_text_file(const std::string& path, const std::string& text);  // via a temporary name, then rename
// Fails now, naming FLAG, if PATH could not be written when the run ends (its folder missing or read-only, or
// PATH a folder): checked before any weight is read, so no run's results are lost to a typo in a path.
void check_writable(const std::string& flag, const std::string& path);
void print_generations(const std::vector<Sequence>& requests);           // stdout, vLLM's example format

}  // namespace ls
