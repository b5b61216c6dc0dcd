# Rewrites one kernels/*.cu into C++ that g++ compiles against cuda_emu.h (cmake -DIN=... -DOUT=... -P this).
# Only the forms g++ cannot parse (or that need a block's shared memory) change, each within its line, so #line keeps compiler and sanitizer
# reports on the original file and line:
#   name<targs><<<grid, block, smem, stream>>>(args)  →  ::ls::emu::Launch(grid, block, smem, stream)(name<targs>, args)
#   extern __shared__ T name[];                      →  T* name = ::ls::emu::dynamic_smem<T>();
#   __shared__ T name[N];                            →  auto& name = ::ls::emu::block_shared<T[N]>([] {});
file(READ "${IN}" src)
string(REGEX REPLACE "([A-Za-z_][A-Za-z_0-9]*(<[^<>;]*>)?)<<<([^>;]*)>>>\\("
       "::ls::emu::Launch(\\3)(\\1, " src "${src}")
string(REGEX REPLACE "extern __shared__ ([A-Za-z_0-9:]+) ([A-Za-z_0-9]+)\\[\\];"
       "\\1* \\2 = ::ls::emu::dynamic_smem<\\1>();" src "${src}")
string(REGEX REPLACE "__shared__ ([A-Za-z_0-9:]+) ([A-Za-z_0-9]+)(\\[[^;]*\\])?;"
       "auto& \\2 = ::ls::emu::block_shared<\\1\\3>([] {});" src "${src}")
if(src MATCHES "<<<|>>>|__shared__")
  message(FATAL_ERROR "${IN}: a kernel launch or __shared__ declaration the emulation cannot rewrite")
endif()
file(WRITE "${OUT}.tmp" "#include \"cuda_emu.h\"\n#line 1 \"${IN}\"\n${src}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
