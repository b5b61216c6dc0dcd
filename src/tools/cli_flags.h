// The flag parsing the tools share: Boost.ProgramOptions, with words that are not flags collected instead of
// rejected, so that each tool's error can quote the first one.
#pragma once
#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace ls {

struct ParsedFlags {
    boost::program_options::variables_map vm;  // stored, not yet notified
    std::vector<std::string> strays;           // arguments that are not flags, in order
};

// Throws boost::program_options::error for malformed flags.
ParsedFlags parse_flags_with_strays(const std::vector<std::string>& args,
                                    const boost::program_options::options_description& desc);

}  // namespace ls
