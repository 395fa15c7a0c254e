# Finds SuiteSparse KLU (+ AMD, COLAMD, BTF, SuiteSparse_config) and defines Nativax::SuiteSparse.
# SuiteSparse >= 7 ships CMake configs (conda, brew, newer distros); Debian 12's 5.12 ships only headers in
# include/suitesparse and plain libraries, so fall back to a manual search. Honour SUITESPARSE_ROOT,
# CONDA_PREFIX and Homebrew prefixes.
set(_ss_hints "")
foreach(_v SUITESPARSE_ROOT SuiteSparse_ROOT CONDA_PREFIX)
  if(DEFINED ENV{${_v}})
    list(APPEND _ss_hints "$ENV{${_v}}")
  endif()
  if(DEFINED ${_v})
    list(APPEND _ss_hints "${${_v}}")
  endif()
endforeach()
list(APPEND _ss_hints /opt/homebrew /usr/local /usr)

find_package(KLU CONFIG QUIET HINTS ${_ss_hints})
if(KLU_FOUND AND TARGET SuiteSparse::KLU)
  message(STATUS "nativax: SuiteSparse KLU ${KLU_VERSION} via CMake config")
  add_library(Nativax::SuiteSparse INTERFACE IMPORTED)
  target_link_libraries(Nativax::SuiteSparse INTERFACE SuiteSparse::KLU)
  get_target_property(_klu_inc SuiteSparse::KLU INTERFACE_INCLUDE_DIRECTORIES)
  set(NativaxSuiteSparse_FOUND TRUE)
  return()
endif()

find_path(KLU_INCLUDE_DIR klu.h
  HINTS ${_ss_hints}
  PATH_SUFFIXES include/suitesparse include)
set(_ss_libs "")
foreach(_lib klu amd colamd btf suitesparseconfig)
  find_library(SS_${_lib}_LIBRARY NAMES ${_lib} HINTS ${_ss_hints} PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu lib/aarch64-linux-gnu)
  if(SS_${_lib}_LIBRARY)
    list(APPEND _ss_libs "${SS_${_lib}_LIBRARY}")
  else()
    set(_ss_missing "${_ss_missing} ${_lib}")
  endif()
endforeach()

if(NOT KLU_INCLUDE_DIR OR _ss_missing)
  set(NativaxSuiteSparse_FOUND FALSE)
  message(FATAL_ERROR
    "nativax needs SuiteSparse KLU (klu.h and libraries klu amd colamd btf suitesparseconfig); missing:"
    "${_ss_missing} ${KLU_INCLUDE_DIR}.\n"
    "Install it:  Debian/Ubuntu: sudo apt-get install libsuitesparse-dev   "
    "conda: conda install -c conda-forge suitesparse   macOS: brew install suite-sparse\n"
    "or point SUITESPARSE_ROOT at an install prefix.")
endif()
message(STATUS "nativax: SuiteSparse KLU headers in ${KLU_INCLUDE_DIR}")
add_library(Nativax::SuiteSparse INTERFACE IMPORTED)
target_include_directories(Nativax::SuiteSparse INTERFACE "${KLU_INCLUDE_DIR}")
target_link_libraries(Nativax::SuiteSparse INTERFACE ${_ss_libs})
set(NativaxSuiteSparse_FOUND TRUE)
