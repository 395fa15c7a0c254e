// The optional nanobind extension `nativax._cusolvermg_cuda`: FFI capsules of the cuSOLVERMg handlers.
// UNVERIFIED: compiled, never run on a GPU by this project (see docs/distributed.md).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "xla/ffi/api/c_api.h"

namespace nb = nanobind;

namespace nativax::mg {
extern "C" XLA_FFI_Error* MgPotrf(XLA_FFI_CallFrame* call_frame);
extern "C" XLA_FFI_Error* MgPotri(XLA_FFI_CallFrame* call_frame);
extern "C" XLA_FFI_Error* MgPotrs(XLA_FFI_CallFrame* call_frame);
}  // namespace nativax::mg

NB_MODULE(_cusolvermg_cuda, m) {
  m.doc() = "cuSOLVERMg potrf/potri/potrs XLA FFI handlers (CUDA; unverified)";
  m.def("ffi_targets", []() {
    nb::dict d;
    d["nativax_mg_potrf"] = nb::capsule(reinterpret_cast<void*>(nativax::mg::MgPotrf));
    d["nativax_mg_potri"] = nb::capsule(reinterpret_cast<void*>(nativax::mg::MgPotri));
    d["nativax_mg_potrs"] = nb::capsule(reinterpret_cast<void*>(nativax::mg::MgPotrs));
    return d;
  });
}
