# Run-time compilation of generated fused kernels (kernels/cuda/nvrtc.cpp, engine/compile/cuda_codegen.cpp).
# nvrtc.cpp is plain C++ that loads NVRTC and the driver with dlopen, so it is part of every build; the
# headers generated kernels include are embedded in the binary as string literals (a generated .cpp)
# and handed to NVRTC from memory. Editing one of them re-runs CMake, which regenerates the .cpp.
function(orbit_add_nvrtc target)
  set(headers kernels/scalar/hd.h kernels/scalar/unary.h kernels/scalar/binary.h)
  set(names "")
  set(texts "")
  foreach(h IN LISTS headers)
    file(READ ${PROJECT_SOURCE_DIR}/${h} text)
    string(APPEND names "    \"${h}\",\n")
    string(APPEND texts "    R\"orbit_embedded(${text})orbit_embedded\",\n")
    set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${h})
  endforeach()
  list(LENGTH headers ORBIT_NVRTC_NUM_HEADERS)
  set(ORBIT_NVRTC_HEADER_NAMES "${names}")
  set(ORBIT_NVRTC_HEADER_TEXTS "${texts}")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/nvrtc_headers.cpp.in ${PROJECT_BINARY_DIR}/generated/nvrtc_headers.cpp @ONLY)
  target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/kernels/cuda/nvrtc.cpp
                                   ${PROJECT_BINARY_DIR}/generated/nvrtc_headers.cpp)
  target_link_libraries(${target} PUBLIC ${CMAKE_DL_LIBS})
endfunction()
