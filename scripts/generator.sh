# Sourced by the scripts that build a tree of their own (emu.sh, sanitize.sh, fuzz.sh): sets `generator` to
# the CMake generator for DIR. Ninja when installed: on 2 cores it built build-asan (lockstep and every test_*)
# in 173 s where make -j2 took 216 s, since it compiles a target's objects while the libraries that target
# links are still being built. A tree configured with the other generator loses its cache first: CMake refuses
# to change a tree's generator.   usage: tree_generator DIR; cmake "${generator[@]}" -S ... -B DIR
tree_generator() {
  local dir=$1 want="Unix Makefiles"
  command -v ninja >/dev/null && want=Ninja
  if [ -f "$dir/CMakeCache.txt" ] && ! grep -qx "CMAKE_GENERATOR:INTERNAL=$want" "$dir/CMakeCache.txt"; then
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
  generator=(-G "$want")
}
