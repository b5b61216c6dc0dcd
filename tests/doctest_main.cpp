// doctest's main for the unit-test binaries (host-only tests; they never call MPI).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
