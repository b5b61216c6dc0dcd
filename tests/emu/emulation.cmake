# The CPU emulation of CUDA (tests/emu): include()d by the top-level CMakeLists.txt for LOCKSTEP_CUDA=EMU and by
# tests/unit/kernels. Needs the CUDA toolkit's headers (find_package(CUDAToolkit) first), never nvcc or a GPU.
set(LS_EMU_DIR ${CMAKE_CURRENT_LIST_DIR})
find_package(Boost 1.74 REQUIRED COMPONENTS context)  # the fibers of cuda_emu.cpp (libboost-context-dev)

# A static library `target` of kernels/*.cu, each rewritten by translate_kernel.cmake and compiled by the host
# compiler against cuda_emu.h. Launches run at once, or go on their stream where cudart_emu.cpp is linked.
function(ls_emulated_kernels target)
  file(GLOB cu_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/*.cu)
  set(out_srcs)
  foreach(cu ${cu_srcs})
    get_filename_component(name ${cu} NAME_WE)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}/${name}.cpp)
    add_custom_command(OUTPUT ${out}
                       COMMAND ${CMAKE_COMMAND} -DIN=${cu} -DOUT=${out} -P ${LS_EMU_DIR}/translate_kernel.cmake
                       DEPENDS ${cu} ${LS_EMU_DIR}/translate_kernel.cmake
                       COMMENT "emu: ${name}.cu as C++" VERBATIM)
    list(APPEND out_srcs ${out})
  endforeach()
  add_library(${target} STATIC ${out_srcs} ${LS_EMU_DIR}/cuda_emu.cpp)
  target_include_directories(${target} PUBLIC ${LS_EMU_DIR} ${CMAKE_SOURCE_DIR}/kernels ${CMAKE_SOURCE_DIR}/src
                                              ${CUDAToolkit_INCLUDE_DIRS})
  target_link_libraries(${target} PUBLIC ls_core Boost::context)
  set_source_files_properties(${out_srcs} PROPERTIES COMPILE_OPTIONS -Wno-unknown-pragmas)  # #pragma unroll
endfunction()
