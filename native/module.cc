// The nanobind extension `nativax._nativax`: FFI handler capsules plus the eager handle API and
// registry/cache introspection. Python-facing errors are raised as ValueError/RuntimeError with messages
// that name the offending argument.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>

#include <complex>
#include <string>

#include "coloring/bindings.h"
#include "common/registry.h"
#include "common/thread_pool.h"
#include "klu/cache.h"
#include "klu/handles.h"
#include "xla/ffi/api/c_api.h"

namespace nb = nanobind;
using namespace nb::literals;

extern "C" {
XLA_FFI_Error* KluSolve(XLA_FFI_CallFrame*);
XLA_FFI_Error* KluSolveSymbolic(XLA_FFI_CallFrame*);
XLA_FFI_Error* KluSolveNumeric(XLA_FFI_CallFrame*);
XLA_FFI_Error* KluDot(XLA_FFI_CallFrame*);
XLA_FFI_Error* AmgCsrMatvec(XLA_FFI_CallFrame*);
}

namespace {

using IndexArray = nb::ndarray<const int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using RealArray = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using ComplexArray = nb::ndarray<const std::complex<double>, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

template <typename Fn>
nb::capsule capsule(Fn* fn) {
  return nb::capsule(reinterpret_cast<void*>(fn));
}

nb::dict stats_dict(const nativax::klu::CacheStats& s) {
  nb::dict d;
  d["entries"] = s.entries;
  d["bytes"] = s.bytes;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["evictions"] = s.evictions;
  return d;
}

int64_t check(int32_t status, int64_t id, const std::string& err) {
  if (status == -1) throw nb::value_error(("nativax: " + err).c_str());
  return status == 0 ? id : -static_cast<int64_t>(status);  // negative = KLU status code
}

}  // namespace

NB_MODULE(_nativax, m) {
  m.doc() = "nativax native core (SuiteSparse KLU via XLA FFI).";

  m.def("ffi_targets", []() {
    nb::dict d;
    d["nativax_klu_solve"] = capsule(KluSolve);
    d["nativax_klu_solve_symbolic"] = capsule(KluSolveSymbolic);
    d["nativax_klu_solve_numeric"] = capsule(KluSolveNumeric);
    d["nativax_klu_dot"] = capsule(KluDot);
    d["nativax_amg_csr_matvec"] = capsule(AmgCsrMatvec);
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
        return check(st, id, err);
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
        return check(st, id, err);
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
        return check(st, id, err);
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
    return check(st, id, err);
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
    nativax::registry().clear();
  });
  m.def("num_threads", []() { return nativax::pool_concurrency(); });

  // Graph coloring for compressed Jacobians/Hessians (eager, on concrete index arrays).
  nativax::coloring::register_bindings(m);
}
