# Decides whether the CUDA backend is built (ORBIT_CUDA = AUTO | ON | OFF) and defines
# orbit_add_cuda_backend(target). The backend links the CUDA runtime statically and never links
# libcuda, so a CUDA build starts on machines without a GPU or driver.
set(ORBIT_WITH_CUDA OFF)
if(NOT ORBIT_CUDA MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "ORBIT_CUDA must be AUTO, ON or OFF (got '${ORBIT_CUDA}')")
endif()
if(NOT ORBIT_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(ORBIT_NVCC nvcc HINTS /usr/local/cuda/bin ENV CUDA_PATH PATH_SUFFIXES bin)
    if(ORBIT_NVCC)
      set(CMAKE_CUDA_COMPILER ${ORBIT_NVCC} CACHE FILEPATH "CUDA compiler")
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(ORBIT_WITH_CUDA ON)
  elseif(ORBIT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ORBIT_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()

if(ORBIT_WITH_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)  # sm_90 SASS + compute_90 PTX
  endif()
  # CMake 3.25 does not know nvcc's C++20 flag (no CUDA20 dialect): the backend adds -std=c++20 itself.
  set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "orbit: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
else()
  message(STATUS "orbit: CUDA backend OFF")
endif()

# The .cu files form their own object library: CMake 3.25 cannot express a C++20 CUDA dialect, so
# they must not inherit the C++ target's cxx_std_20 feature; nvcc gets -std=c++20 directly.
function(orbit_add_cuda_backend target)
  file(GLOB cuda_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/cuda/*.cu ${PROJECT_SOURCE_DIR}/engine/ops/*.cu)
  add_library(orbit_cuda OBJECT ${cuda_sources})
  target_include_directories(orbit_cuda PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(orbit_cuda PRIVATE -std=c++20 --expt-relaxed-constexpr)
  target_compile_definitions(orbit_cuda PRIVATE ORBIT_WITH_CUDA=1)
  target_link_libraries(orbit_cuda PRIVATE CUDA::cudart_static)
  set_target_properties(orbit_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON CUDA_STANDARD_REQUIRED OFF)
  target_sources(${target} PRIVATE $<TARGET_OBJECTS:orbit_cuda>)
  # The CUDA objects make CMake resolve a CUDA dialect for the library itself; it compiles no .cu
  # file, so any dialect CMake 3.25 knows will do.
  set_target_properties(${target} PROPERTIES CUDA_STANDARD 17)
  target_compile_definitions(${target} PUBLIC ORBIT_WITH_CUDA=1 ORBIT_CUDA_ARCHS="${CMAKE_CUDA_ARCHITECTURES}")
  # cuBLAS is loaded at run time with dlopen (kernels/cuda/blas.cu), never linked.
  target_link_libraries(${target} PUBLIC CUDA::cudart_static ${CMAKE_DL_LIBS})
endfunction()
