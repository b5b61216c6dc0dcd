#include "tools/cli_flags.h"

namespace ls {

namespace po = boost::program_options;

ParsedFlags parse_flags_with_strays(const std::vector<std::string>& args, const po::options_description& desc) {
    po::options_description hidden, all;
    hidden.add_options()("stray", po::value<std::vector<std::string>>());
    all.add(desc).add(hidden);
    po::positional_options_description positional;
    positional.add("stray", -1);
    ParsedFlags out;
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), out.vm);
    if (out.vm.count("stray")) out.strays = out.vm["stray"].as<std::vector<std::string>>();
    return out;
}

}  // namespace ls
