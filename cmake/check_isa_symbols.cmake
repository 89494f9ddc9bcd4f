# cmake -DNM=nm -DOBJECTS="a.o;b.o" -P check_isa_symbols.cmake
# Every global symbol an instruction-set variant object defines must live in that variant's own
# namespaces (orbit::cpu::isa_x86v*, orbit_eigen_x86v*): a shared template instance (say, an Eigen or
# std function also instantiated by the baseline objects) could be merged by the linker with the
# baseline copy and then run AVX-512 code on a CPU without it, or the other way round.
if(NOT OBJECTS)
  message(STATUS "no ISA variant objects in this build: nothing to check")
  return()
endif()
set(bad "")
foreach(obj IN LISTS OBJECTS)
  execute_process(COMMAND ${NM} -C --defined-only ${obj} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${obj}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  set(n 0)
  foreach(line IN LISTS lines)
    # "<address> <type> <name>": upper-case types (and u, v, w) are global.
    if(line MATCHES "^[0-9a-fA-F]+ ([A-Zuvw]) (.*)$")
      set(name "${CMAKE_MATCH_2}")
      math(EXPR n "${n} + 1")
      # DW.ref.__gxx_personality_v0: the exception-personality pointer, the same data in every object.
      if(NOT name MATCHES "orbit::cpu::isa_x86v[34]::|orbit_eigen_x86v[34]::|^orbit_eigen_x86v[34]|^DW\\.ref\\.__gxx_personality_v0$")
        list(APPEND bad "${obj}: ${line}")
      endif()
    endif()
  endforeach()
  message(STATUS "${obj}: ${n} global symbols")
endforeach()
if(bad)
  list(JOIN bad "\n  " text)
  message(FATAL_ERROR "ISA variant objects define symbols outside their own namespaces:\n  ${text}")
endif()
