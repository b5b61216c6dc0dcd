#include <doctest/doctest.h>

#include "config/model_config.h"
#include "core/check.h"

using namespace ls;

TEST_CASE("model config: the shared tiny OPT") {
    ModelConfig c = load_model_config(LOCKSTEP_SHARED_DIR "/models/opt-tiny");
    CHECK(c.d_model == 64);
    CHECK(c.n_heads == 4);
    CHECK(c.n_layers == 2);
    CHECK(c.d_ff == 256);
    CHECK(c.n_vocab == 50272);
    CHECK(c.max_positions == 128);
    CHECK(c.pre_ln);
    CHECK(c.final_layer_norm);
    CHECK_FALSE(c.has_projection());
}

TEST_CASE("model config: opt-350m's post-LN and projection") {
    ModelConfig c = parse_model_config(R"({"model_type":"opt","vocab_size":50272,"hidden_size":1024,
        "num_attention_heads":16,"num_hidden_layers":24,"ffn_dim":4096,"max_position_embeddings":2048,
        "word_embed_proj_dim":512,"do_layer_norm_before":false})", "350m.json");
    CHECK_FALSE(c.pre_ln);
    CHECK_FALSE(c.final_layer_norm);
    CHECK(c.has_projection());
    CHECK(c.d_embed == 512);
}

TEST_CASE("model config: errors name the file and the field") {
    auto expect = [](const std::string& json, const char* needle) {
        try {
            parse_model_config(json, "cfg.json");
            FAIL("no error for " << json);
        } catch (const Error& e) {
            std::string m = e.what();
            CHECK_MESSAGE(m.find("cfg.json") != std::string::npos, m);
            CHECK_MESSAGE(m.find(needle) != std::string::npos, m);
        }
    };
    const std::string ok = R"("vocab_size":100,"hidden_size":64,"num_attention_heads":4,"num_hidden_layers":2,
        "ffn_dim":256,"max_position_embeddings":128)";
    expect("{not json", "malformed JSON");
    expect(R"({"model_type":"llama",)" + ok + "}", "llama");
    expect(R"({)" + ok + "}", "model_type");
    expect(R"({"model_type":"opt","vocab_size":100})", "hidden_size");
    expect(R"({"model_type":"opt","vocab_size":100,"hidden_size":"big","num_attention_heads":4,
        "num_hidden_layers":2,"ffn_dim":256,"max_position_embeddings":128})", "must be an integer");
    expect(R"({"model_type":"opt",)" + ok + R"(,"activation_function":"gelu"})", "gelu");
    expect(R"({"model_type":"opt","vocab_size":100,"hidden_size":65,"num_attention_heads":4,"num_hidden_layers":2,
        "ffn_dim":256,"max_position_embeddings":128})", "not divisible");
    CHECK_THROWS_WITH_AS(load_model_config("/nonexistent/model"), doctest::Contains("does not exist"), Error);
}
