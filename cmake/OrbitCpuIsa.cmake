# orbit_add_cpu_isa_variants(target): compiles kernels/cpu/isa/*_x86v3.cpp and *_x86v4.cpp with
# -march=x86-64-v3 / -march=x86-64-v4 (when the target is x86-64 and the compiler takes the flag) into
# object libraries linked into `target`, and defines ORBIT_CPU_ISA_X86V3 / V4 so that
# kernels/cpu/isa.cpp knows they exist. ORBIT_CPU_ISA_VARIANTS=OFF builds the baseline only.
# -ffp-contract=off: GCC would otherwise fuse a * b + c into FMA instructions (C++ mode contracts by
# default), and the fused kernel's elementwise loops would round differently from the baseline's and
# from the unfused kernels; Eigen's products use FMA explicitly and are not affected. -fno-math-errno:
# as for the library (CMakeLists.txt), so that loops with a square root vectorise.
include(CheckCXXCompilerFlag)
option(ORBIT_CPU_ISA_VARIANTS "Compile AVX2 / AVX-512 variants of the CPU matrix products, chosen at run time" ON)
set(ORBIT_CPU_ISA_OBJECT_LIBS "" CACHE INTERNAL "object libraries of the CPU ISA variants")

function(orbit_add_cpu_isa_variants target)
  set(libs "")
  if(NOT ORBIT_CPU_ISA_VARIANTS OR NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    set(ORBIT_CPU_ISA_OBJECT_LIBS "" CACHE INTERNAL "")
    return()
  endif()
  foreach(v 3 4)
    check_cxx_compiler_flag(-march=x86-64-v${v} ORBIT_HAS_MARCH_X86V${v})
    if(NOT ORBIT_HAS_MARCH_X86V${v})
      continue()
    endif()
    set(lib ${target}_isa_x86v${v})
    add_library(${lib} OBJECT ${PROJECT_SOURCE_DIR}/kernels/cpu/isa/gemm_x86v${v}.cpp
      ${PROJECT_SOURCE_DIR}/kernels/cpu/isa/fused_apply_x86v${v}.cpp
      ${PROJECT_SOURCE_DIR}/kernels/cpu/isa/gmm_energy_x86v${v}.cpp
      ${PROJECT_SOURCE_DIR}/kernels/cpu/isa/random_normal_x86v${v}.cpp
      ${PROJECT_SOURCE_DIR}/kernels/cpu/isa/pair_energy_lanes_x86v${v}.cpp
      ${PROJECT_SOURCE_DIR}/kernels/cpu/isa/egnn_rows_x86v${v}.cpp)
    target_include_directories(${lib} PRIVATE ${PROJECT_SOURCE_DIR})
    target_compile_features(${lib} PRIVATE cxx_std_20)
    # -O3 whatever the build type: an inline function the compiler leaves out of line here becomes a
    # weak symbol compiled for this instruction set, which the linker may pick for the baseline callers
    # too (a Debug or -O1 sanitizer build did: scalar::pm::cos, pm::log, Erf; cmake/check_isa_symbols.cmake
    # is the guard, the test cpu_isa_variant_symbols).
    target_compile_options(${lib} PRIVATE -O3 -march=x86-64-v${v} -fno-trapping-math -ffp-contract=off -fno-math-errno -Wall -Wextra -Wno-unused-parameter
      -Wno-maybe-uninitialized)  # GCC 12 warns inside its own avx512fintrin.h
    target_link_libraries(${lib} PRIVATE Eigen3::Eigen)
    if(OpenMP_CXX_FOUND)
      target_link_libraries(${lib} PRIVATE OpenMP::OpenMP_CXX)
    endif()
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:${lib}>)
    target_compile_definitions(${target} PRIVATE ORBIT_CPU_ISA_X86V${v}=1)
    list(APPEND libs ${lib})
  endforeach()
  set(ORBIT_CPU_ISA_OBJECT_LIBS "${libs}" CACHE INTERNAL "")
  message(STATUS "orbit: CPU instruction-set variants: baseline ${libs}")
endfunction()
