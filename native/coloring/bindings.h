// Python bindings of the coloring functions (nanobind; plain functions, no FFI: coloring runs eagerly on
// concrete index arrays, once per pattern).
#pragma once

#include <nanobind/nanobind.h>

namespace nativax::coloring {

void register_bindings(nanobind::module_& m);

}  // namespace nativax::coloring
