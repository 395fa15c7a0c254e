// Python bindings of the host AMG setup kernels (nanobind; eager, on concrete NumPy arrays).
#pragma once

#include <nanobind/nanobind.h>

namespace nativax::amg {

void register_bindings(nanobind::module_& m);

}  // namespace nativax::amg
