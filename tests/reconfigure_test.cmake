# Running cmake again on a configured tree must not change any compile or
# link command: if it does, every `make` target that re-runs the configure
# (`make demo` after `make test`) rebuilds the whole tree.
#
#   cmake -DSOURCE_DIR=... -DWORK_DIR=... -DCXX_COMPILER=... -P reconfigure_test.cmake
#
# Configures SOURCE_DIR into a fresh WORK_DIR twice and fails, naming the
# files, if any flags.make or link.txt differs between the two.
foreach(var IN ITEMS SOURCE_DIR WORK_DIR CXX_COMPILER)
  if(NOT ${var})
    message(FATAL_ERROR "reconfigure_test: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")

function(configure_once out_var)
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}"
            -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "reconfigure_test: configure failed (${rc}):\n${out}")
  endif()
  file(GLOB_RECURSE files RELATIVE "${WORK_DIR}" "${WORK_DIR}/*/flags.make" "${WORK_DIR}/*/link.txt")
  list(SORT files)
  list(LENGTH files n)
  if(n EQUAL 0)
    message(FATAL_ERROR "reconfigure_test: the configure wrote no flags.make or link.txt under ${WORK_DIR}")
  endif()
  set(sums "")
  foreach(f IN LISTS files)
    file(SHA256 "${WORK_DIR}/${f}" sum)
    list(APPEND sums "${f}=${sum}")
  endforeach()
  set(${out_var} "${sums}" PARENT_SCOPE)
endfunction()

configure_once(first)
configure_once(second)
if(NOT first STREQUAL second)
  set(changed "")
  foreach(entry IN LISTS first)
    list(FIND second "${entry}" at)
    if(at EQUAL -1)
      string(REGEX REPLACE "=.*" "" name "${entry}")
      list(APPEND changed "${name}")
    endif()
  endforeach()
  if(NOT changed)
    set(changed "(none changed, but the second configure wrote other files than the first)")
  endif()
  list(JOIN changed "\n  " changed)
  message(FATAL_ERROR "reconfigure_test: a second configure changed these build files "
                      "(each change rebuilds its target):\n  ${changed}")
endif()
list(LENGTH first n)
message(STATUS "reconfigure_test: ${n} flags.make and link.txt files unchanged by a second configure")
file(REMOVE_RECURSE "${WORK_DIR}")
