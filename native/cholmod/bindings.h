// Eager (nanobind) functions on held CHOLMOD factorizations: log det, and rank-k update/downdate.
#pragma once
#include <nanobind/nanobind.h>

namespace nativax::cholmod {
void bind_gaussian(nanobind::module_& m);
}  // namespace nativax::cholmod
