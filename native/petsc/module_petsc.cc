// The optional nanobind extension `nativax._petsc_ext`: the PETSc solve and halo-gather FFI capsules, the
// status codes, cache introspection/control for nativax.cache_info()/clear_caches()/finalize(), and the MPI
// rank/size of PETSC_COMM_WORLD. Built only when CMake finds PETSc (native/petsc/CMakeLists.txt); it links
// PETSc and MPI, the main module `nativax._nativax` does not.
#include <mutex>
#include <string>

#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>

#include "petsc/runtime.h"
#include "petsc/status.h"
#include "petsc/system.h"
#include "xla/ffi/api/c_api.h"

namespace nb = nanobind;

namespace nativax::petsc {
extern "C" XLA_FFI_Error* PetscSolve(XLA_FFI_CallFrame* call_frame);
extern "C" XLA_FFI_Error* PetscGather(XLA_FFI_CallFrame* call_frame);
}  // namespace nativax::petsc

NB_MODULE(_petsc_ext, m) {
  using namespace nativax::petsc;
  m.doc() = "PETSc (KSP/PC: MUMPS, SuperLU_DIST, hypre, GAMG) XLA FFI handlers for nativax.PETSc";
  m.def("ffi_targets", []() {
    nb::dict d;
    d["nativax_petsc_solve"] = nb::capsule(reinterpret_cast<void*>(PetscSolve));
    d["nativax_petsc_gather"] = nb::capsule(reinterpret_cast<void*>(PetscGather));
    return d;
  });
  m.def("initialize", []() {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(library_mutex());
    return ensure_initialized_locked();
  }, "PetscInitialize now (normally done by the first solve); empty string on success, else why not.");
  m.def("comm", []() {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(library_mutex());
    return std::make_pair(comm_rank(), comm_size());
  }, "(rank, size) of PETSC_COMM_WORLD; (0, 1) before PETSc is initialized.");
  m.def("cache_info", []() {
    CacheStats s = cache().stats();
    nb::dict d;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["evictions"] = s.evictions;
    d["setups"] = s.setups;
    d["numeric_updates"] = s.numeric_updates;
    d["reuses"] = s.reuses;
    d["solves"] = s.solves;
    d["transpose_solves"] = s.transpose_solves;
    d["gathers"] = s.gathers;
    return d;
  });
  m.def("set_cache_size", [](int64_t entries) {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(library_mutex());
    cache().set_capacity(entries);
  });
  m.def("reset_cache_counters", []() {
    std::lock_guard<std::mutex> lock(library_mutex());
    cache().reset_counters();
  });
  m.def("clear_caches", []() {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(library_mutex());
    cache().clear();
  }, "Destroy every cached PETSc object (collective in a multi-process run: call it on every rank).");
  m.def("finalize", []() {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(library_mutex());
    cache().clear();
    finalize_locked();
  }, "Destroy the cache and PetscFinalize (if nativax initialized PETSc). Collective.");
  m.attr("STATUS_OK") = static_cast<int>(kOk);
  m.attr("STATUS_SINGULAR") = static_cast<int>(kSingular);
  m.attr("STATUS_NONFINITE_MATRIX") = static_cast<int>(kNonFiniteMatrix);
  m.attr("STATUS_NONFINITE_RHS") = static_cast<int>(kNonFiniteRhs);
  m.attr("STATUS_FAILED") = static_cast<int>(kFailed);
  m.attr("STATUS_NOT_POSITIVE_DEFINITE") = static_cast<int>(kNotPositiveDefinite);
  m.attr("STATUS_NOT_CONVERGED") = static_cast<int>(kNotConverged);
  m.attr("STATUS_DIVERGED") = static_cast<int>(kDiverged);
  m.attr("STATUS_RANK_MISMATCH") = static_cast<int>(kRankMismatch);
}
