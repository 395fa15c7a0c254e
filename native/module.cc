// The nanobind extension `nativax._nativax`: FFI handler capsules plus the eager handle API and
// registry/cache introspection. Python-facing errors are raised as ValueError/RuntimeError with messages
// that name the offending argument.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>

#include <complex>
#include <string>

#include "common/bind_engine.h"
#include "common/registry.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "klu/cache.h"
#include "klu/handles.h"
#if NATIVAX_HAVE_CHOLMOD
#include "cholmod/engine.h"
#endif
#if NATIVAX_HAVE_UMFPACK
#include "umfpack/engine.h"
#endif
#include "xla/ffi/api/c_api.h"

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
#endif
#if NATIVAX_HAVE_UMFPACK
XLA_FFI_Error* UmfpackSolve(XLA_FFI_CallFrame*);
XLA_FFI_Error* UmfpackSolveSymbolic(XLA_FFI_CallFrame*);
XLA_FFI_Error* UmfpackSolveNumeric(XLA_FFI_CallFrame*);
#endif
}

namespace {

using nativax::ComplexArray;
using nativax::IndexArray;
using nativax::RealArray;
using nativax::checked_id;
using nativax::stats_dict;

template <typename Fn>
nb::capsule capsule(Fn* fn) {
  return nb::capsule(reinterpret_cast<void*>(fn));
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
  m.attr("MODE_A") = static_cast<int>(nativax::kModeA);
  m.attr("MODE_T") = static_cast<int>(nativax::kModeT);
  m.attr("MODE_H") = static_cast<int>(nativax::kModeH);
  m.attr("HAS_CHOLMOD") = static_cast<bool>(NATIVAX_HAVE_CHOLMOD);
  m.attr("HAS_UMFPACK") = static_cast<bool>(NATIVAX_HAVE_UMFPACK);
#if NATIVAX_HAVE_CHOLMOD
  nativax::bind_engine<nativax::cholmod::Engine>(m, "cholmod");
#endif
#if NATIVAX_HAVE_UMFPACK
  nativax::bind_engine<nativax::umfpack::Engine>(m, "umfpack");
#endif

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
#endif
#if NATIVAX_HAVE_UMFPACK
    d["nativax_umfpack_solve"] = capsule(UmfpackSolve);
    d["nativax_umfpack_solve_symbolic"] = capsule(UmfpackSolveSymbolic);
    d["nativax_umfpack_solve_numeric"] = capsule(UmfpackSolveNumeric);
#endif
    return d;
  });

  // Handle API. Each returns an id (> 0) or -status (KLU singular etc.); argument errors raise ValueError.
  m.def(
      "klu_analyze",
      [](IndexArray rows, IndexArray cols, int64_t n) {
        if (rows.shape(0) != cols.shape(0)) throw nb::value_error("nativax: `rows` and `cols` differ in length");
        int64_t id = 0;
        std::string err;
        int32_t st;
        {
          nb::gil_scoped_release release;
          st = nativax::klu::handle_analyze(n, rows.data(), cols.data(), rows.shape(0), &id, &err);
        }
        return checked_id(st, id, err);
      },
      "rows"_a, "cols"_a, "n"_a);
  m.def(
      "klu_factor",
      [](int64_t symbolic, RealArray values) {
        int64_t id = 0;
        std::string err;
        int32_t st;
        {
          nb::gil_scoped_release release;
          st = nativax::klu::handle_factor(symbolic, false, values.data(), values.shape(0), &id, &err);
        }
        return checked_id(st, id, err);
      },
      "symbolic"_a, "values"_a);
  m.def(
      "klu_factor",
      [](int64_t symbolic, ComplexArray values) {
        int64_t id = 0;
        std::string err;
        int32_t st;
        {
          nb::gil_scoped_release release;
          st = nativax::klu::handle_factor(symbolic, true, reinterpret_cast<const double*>(values.data()),
                                           values.shape(0), &id, &err);
        }
        return checked_id(st, id, err);
      },
      "symbolic"_a, "values"_a);
  auto refactor = [](int64_t numeric, const double* data, int64_t nnz, bool cplx) {
    std::string err;
    auto num = nativax::klu::get_numeric(numeric, &err);
    if (!num) throw nb::value_error(("nativax: " + err).c_str());
    if (num->is_complex != cplx) {
      throw nb::value_error("nativax: `values` must be complex exactly when the factorization is complex");
    }
    int64_t id = 0;
    int32_t st;
    {
      nb::gil_scoped_release release;
      st = nativax::klu::handle_refactor(numeric, data, nnz, &id, &err);
    }
    return checked_id(st, id, err);
  };
  m.def(
      "klu_refactor",
      [refactor](int64_t numeric, RealArray values) {
        return refactor(numeric, values.data(), values.shape(0), false);
      },
      "numeric"_a, "values"_a);
  m.def(
      "klu_refactor",
      [refactor](int64_t numeric, ComplexArray values) {
        return refactor(numeric, reinterpret_cast<const double*>(values.data()), values.shape(0), true);
      },
      "numeric"_a, "values"_a);
  m.def(
      "free_handle", [](int64_t id) { return nativax::registry().release(id) != nullptr; }, "id"_a);
  m.def(
      "handle_alive", [](int64_t id) { return nativax::registry().alive(id); }, "id"_a);
  m.def("live_handles", []() { return nativax::registry().live(); });
  m.def(
      "handle_info",
      [](int64_t id) {
        std::string err;
        nb::dict d;
        if (auto n = nativax::klu::get_numeric(id, &err)) {
          d["kind"] = "numeric";
          d["n"] = n->symbolic->pattern->n;
          d["rcond"] = n->rcond;
          d["bytes"] = n->bytes();
          d["complex"] = n->is_complex;
          return d;
        }
        if (auto s = nativax::klu::get_symbolic(id, &err)) {
          d["kind"] = "symbolic";
          d["n"] = s->pattern->n;
          d["nnz"] = s->pattern->csc_nnz();
          d["bytes"] = s->bytes();
          d["nblocks"] = s->sym->nblocks;  // BTF blocks
          d["lnz"] = s->sym->lnz;          // AMD fill estimates of L and U
          d["unz"] = s->sym->unz;
          return d;
        }
        throw nb::value_error(("nativax: " + err).c_str());
      },
      "id"_a);

  m.def("cache_info", []() {
    auto& c = nativax::klu::cache();
    nb::dict d;
    d["capacity"] = c.capacity();
    d["symbolic"] = stats_dict(c.symbolic_stats());
    d["numeric"] = stats_dict(c.numeric_stats());
    d["factorizations"] = c.factorizations();
    d["refactorizations"] = c.refactorizations();
    return d;
  });
  m.def("clear_caches", []() { nativax::klu::cache().clear(); });
  m.def("reset_cache_counters", []() { nativax::klu::cache().reset_counters(); });
  m.def(
      "set_cache_size", [](int64_t n) { nativax::klu::cache().set_capacity(n); }, "entries"_a);
  m.def(
      "set_cache_bytes", [](int64_t n) { nativax::klu::cache().set_max_bytes(n); }, "bytes"_a);
  m.def("finalize", []() {
    nativax::klu::cache().clear();
#if NATIVAX_HAVE_CHOLMOD
    nativax::LruCache<nativax::cholmod::Engine>::instance().clear();
#endif
#if NATIVAX_HAVE_UMFPACK
    nativax::LruCache<nativax::umfpack::Engine>::instance().clear();
#endif
    nativax::registry().clear();
  });
  m.def("num_threads", []() { return nativax::pool_concurrency(); });
}
