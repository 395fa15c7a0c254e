// The nanobind extension `nativax._nativax`: FFI handler capsules, the status/mode constants, the eager handle
// API and cache controls of every direct engine (`<engine>_analyze`, `_factor`, `_refactor`, `_handle_info`,
// `_cache_info`, ...; see common/bind_engine.h), and registry introspection. Python-facing errors are raised as
// ValueError/RuntimeError with messages that name the offending argument.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <string>

#include "amg/bindings.h"
#include "coloring/bindings.h"
#include "common/bind_engine.h"
#include "common/registry.h"
#include "common/blas_threads.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "klu/factorization.h"
#include "xla/ffi/api/c_api.h"
#if NATIVAX_HAVE_CHOLMOD
#include "cholmod/bindings.h"
#include "cholmod/engine.h"
#endif
#if NATIVAX_HAVE_UMFPACK
#include "umfpack/engine.h"
#endif

namespace nb = nanobind;
using namespace nb::literals;

extern "C" {
XLA_FFI_Error* KluSolve(XLA_FFI_CallFrame*);
XLA_FFI_Error* KluSolveSymbolic(XLA_FFI_CallFrame*);
XLA_FFI_Error* KluSolveNumeric(XLA_FFI_CallFrame*);
XLA_FFI_Error* KluDot(XLA_FFI_CallFrame*);
XLA_FFI_Error* AmgCsrMatvec(XLA_FFI_CallFrame*);
#if NATIVAX_HAVE_CHOLMOD
XLA_FFI_Error* CholmodSolve(XLA_FFI_CallFrame*);
XLA_FFI_Error* CholmodSolveSymbolic(XLA_FFI_CallFrame*);
XLA_FFI_Error* CholmodSolveNumeric(XLA_FFI_CallFrame*);
XLA_FFI_Error* CholmodLogdet(XLA_FFI_CallFrame*);
XLA_FFI_Error* CholmodSelinv(XLA_FFI_CallFrame*);
XLA_FFI_Error* CholmodSelinvNumeric(XLA_FFI_CallFrame*);
XLA_FFI_Error* CholmodFactorSolve(XLA_FFI_CallFrame*);
XLA_FFI_Error* CholmodFactorSolveNumeric(XLA_FFI_CallFrame*);
#endif
#if NATIVAX_HAVE_UMFPACK
XLA_FFI_Error* UmfpackSolve(XLA_FFI_CallFrame*);
XLA_FFI_Error* UmfpackSolveSymbolic(XLA_FFI_CallFrame*);
XLA_FFI_Error* UmfpackSolveNumeric(XLA_FFI_CallFrame*);
#endif
}

namespace {

template <typename Fn>
nb::capsule capsule(Fn* fn) {
  return nb::capsule(reinterpret_cast<void*>(fn));
}

// Every engine's cache, for the process-wide controls.
template <typename F>
void each_cache(F&& f) {
  f(nativax::LruCache<nativax::klu::Engine>::instance());
#if NATIVAX_HAVE_CHOLMOD
  f(nativax::LruCache<nativax::cholmod::Engine>::instance());
#endif
#if NATIVAX_HAVE_UMFPACK
  f(nativax::LruCache<nativax::umfpack::Engine>::instance());
#endif
}

}  // namespace

NB_MODULE(_nativax, m) {
  m.doc() = "nativax native core (SuiteSparse direct engines via XLA FFI).";

  // One source of truth for the status codes and solve modes (common/status.h).
  m.attr("STATUS_OK") = static_cast<int>(nativax::kOk);
  m.attr("STATUS_SINGULAR") = static_cast<int>(nativax::kSingular);
  m.attr("STATUS_NONFINITE_MATRIX") = static_cast<int>(nativax::kNonFiniteMatrix);
  m.attr("STATUS_NONFINITE_RHS") = static_cast<int>(nativax::kNonFiniteRhs);
  m.attr("STATUS_FAILED") = static_cast<int>(nativax::kFailed);
  m.attr("STATUS_NOT_POSITIVE_DEFINITE") = static_cast<int>(nativax::kNotPositiveDefinite);
  m.attr("STATUS_NOT_SYMMETRIC") = static_cast<int>(nativax::kNotSymmetric);
  m.attr("STATUS_NUMERICALLY_SINGULAR") = static_cast<int>(nativax::kNumericallySingular);
  m.attr("INFO_FIELDS") = static_cast<int>(nativax::kInfoFields);
  m.def("blas_thread_control", &nativax::blas_thread_control);
  m.def("blas_num_threads", &nativax::blas_num_threads);
  m.attr("MODE_A") = static_cast<int>(nativax::kModeA);
  m.attr("MODE_T") = static_cast<int>(nativax::kModeT);
  m.attr("MODE_H") = static_cast<int>(nativax::kModeH);
  m.attr("HAS_CHOLMOD") = static_cast<bool>(NATIVAX_HAVE_CHOLMOD);
  m.attr("HAS_UMFPACK") = static_cast<bool>(NATIVAX_HAVE_UMFPACK);

  m.def("ffi_targets", []() {
    nb::dict d;
    d["nativax_klu_solve"] = capsule(KluSolve);
    d["nativax_klu_solve_symbolic"] = capsule(KluSolveSymbolic);
    d["nativax_klu_solve_numeric"] = capsule(KluSolveNumeric);
    d["nativax_klu_dot"] = capsule(KluDot);
    d["nativax_amg_csr_matvec"] = capsule(AmgCsrMatvec);
#if NATIVAX_HAVE_CHOLMOD
    d["nativax_cholmod_solve"] = capsule(CholmodSolve);
    d["nativax_cholmod_solve_symbolic"] = capsule(CholmodSolveSymbolic);
    d["nativax_cholmod_solve_numeric"] = capsule(CholmodSolveNumeric);
    d["nativax_cholmod_logdet"] = capsule(CholmodLogdet);
    d["nativax_cholmod_selinv"] = capsule(CholmodSelinv);
    d["nativax_cholmod_selinv_numeric"] = capsule(CholmodSelinvNumeric);
    d["nativax_cholmod_factor_solve"] = capsule(CholmodFactorSolve);
    d["nativax_cholmod_factor_solve_numeric"] = capsule(CholmodFactorSolveNumeric);
#endif
#if NATIVAX_HAVE_UMFPACK
    d["nativax_umfpack_solve"] = capsule(UmfpackSolve);
    d["nativax_umfpack_solve_symbolic"] = capsule(UmfpackSolveSymbolic);
    d["nativax_umfpack_solve_numeric"] = capsule(UmfpackSolveNumeric);
#endif
    return d;
  });

  // One registration per engine: handle API and cache controls.
  nativax::bind_engine<nativax::klu::Engine>(m, "klu");
#if NATIVAX_HAVE_CHOLMOD
  nativax::bind_engine<nativax::cholmod::Engine>(m, "cholmod");
  nativax::cholmod::bind_gaussian(m);
#endif
#if NATIVAX_HAVE_UMFPACK
  nativax::bind_engine<nativax::umfpack::Engine>(m, "umfpack");
#endif

  m.attr("handle_info") = m.attr("klu_handle_info");  // the KLU name kept from before the engine layer

  // What KLU's analysis knows about a pattern (for nativax.Auto): BTF blocks and AMD fill estimates.
  m.def(
      "klu_symbolic_stats",
      [](int64_t id) {
        std::string err;
        auto s = nativax::get_symbolic<nativax::klu::Engine>(id, &err);
        if (!s) throw nb::value_error(("nativax: " + err).c_str());
        nb::dict d;
        d["nblocks"] = s->sym->nblocks;
        d["lnz"] = s->sym->lnz;
        d["unz"] = s->sym->unz;
        return d;
      },
      "id"_a);

  m.def(
      "free_handle", [](int64_t id) { return nativax::registry().release(id) != nullptr; }, "id"_a);
  m.def(
      "handle_alive", [](int64_t id) { return nativax::registry().alive(id); }, "id"_a);
  m.def("live_handles", []() { return nativax::registry().live(); });
  m.def("clear_caches", []() { each_cache([](auto& c) { c.clear(); }); });
  m.def("reset_cache_counters", []() { each_cache([](auto& c) { c.reset_counters(); }); });
  m.def(
      "set_cache_size", [](int64_t n) { each_cache([n](auto& c) { c.set_capacity(n); }); }, "entries"_a);
  m.def(
      "set_cache_bytes", [](int64_t n) { each_cache([n](auto& c) { c.set_max_bytes(n); }); }, "bytes"_a);
  m.def("finalize", []() {
    each_cache([](auto& c) { c.clear(); });
    nativax::registry().clear();
  });
  m.def("num_threads", []() { return nativax::pool_concurrency(); });
  m.attr("max_threads_per_core") = nativax::kMaxThreadsPerCore;

  // Graph coloring for compressed Jacobians/Hessians (eager, on concrete index arrays).
  nativax::coloring::register_bindings(m);

  // Host AMG setup kernels (aggregation, Galerkin product maps; eager, on concrete index arrays).
  nativax::amg::register_bindings(m);
}
