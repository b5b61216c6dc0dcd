# Run by the `git_commit` target at every build, not once at configure time: the start-up log and the report's
# `git_commit` must name the commit the binary was built from, and a build after `git pull` or a local edit
# does not reconfigure. "-dirty" marks a build from a tree with uncommitted changes to tracked files.
# file(CONFIGURE) rewrites OUT only when its text changes, so an unchanged commit recompiles nothing.
# Inputs: SOURCE_DIR, OUT, VERSION.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT commit)
  set(commit unknown)  # a source tarball, or git missing
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE changes ERROR_QUIET RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND changes)
    string(APPEND commit "-dirty")
  endif()
endif()
file(CONFIGURE OUTPUT ${OUT} @ONLY CONTENT [=[
// Written by cmake/git_commit.cmake at build time; not in the source tree.
namespace ls {
const char* lockstep_version() { return "@VERSION@"; }
const char* lockstep_git_commit() { return "@commit@"; }
}  // namespace ls
]=])
