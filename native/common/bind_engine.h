// nanobind bindings every direct engine gets: the eager handle API (<prefix>_analyze/_factor/_refactor) and
// its cache controls (<prefix>_cache_info, _clear_cache, _reset_cache_counters, _set_cache_size/_bytes).
// Python-facing argument errors are ValueError with messages that name the argument.
#pragma once
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <complex>
#include <string>

#include "common/engine.h"

namespace nativax {

namespace nb = nanobind;

using IndexArray = nb::ndarray<const int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using RealArray = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using ComplexArray = nb::ndarray<const std::complex<double>, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

inline nb::dict stats_dict(int64_t entries, int64_t bytes, int64_t hits, int64_t misses, int64_t evictions) {
  nb::dict d;
  d["entries"] = entries;
  d["bytes"] = bytes;
  d["hits"] = hits;
  d["misses"] = misses;
  d["evictions"] = evictions;
  return d;
}

template <typename S>
nb::dict stats_dict(const S& s) {
  return stats_dict(s.entries, s.bytes, s.hits, s.misses, s.evictions);
}

// An id (> 0) on success, -status for a numeric failure (singular, not positive definite, ...).
inline int64_t checked_id(int32_t status, int64_t id, const std::string& err) {
  if (status == -1) throw nb::value_error(("nativax: " + err).c_str());
  return status == 0 ? id : -static_cast<int64_t>(status);
}

template <typename E>
void bind_engine(nb::module_& m, const std::string& prefix) {
  using namespace nb::literals;
  m.def(
      (prefix + "_analyze").c_str(),
      [](IndexArray rows, IndexArray cols, int64_t n, int32_t ordering, double pivot_tol, int32_t scale,
         std::vector<int32_t> perm) {
        if (rows.shape(0) != cols.shape(0)) throw nb::value_error("nativax: `rows` and `cols` differ in length");
        if (ordering < kOrderDefault || ordering > kOrderGiven) throw nb::value_error("nativax: `ordering` code out of range");
        Options opts;
        opts.ordering = ordering;
        opts.pivot_tol = pivot_tol;
        opts.scale = scale;
        if (ordering == kOrderGiven) {
          opts.perm = std::move(perm);
          if (!valid_perm(opts.perm, n)) throw nb::value_error("nativax: `ordering` must be a permutation of 0..n-1");
        }
        int64_t id = 0;
        std::string err;
        int32_t st;
        {
          nb::gil_scoped_release release;
          st = handle_analyze<E>(n, rows.data(), cols.data(), rows.shape(0), &id, &err, opts);
        }
        return checked_id(st, id, err);
      },
      "rows"_a, "cols"_a, "n"_a, "ordering"_a = 0, "pivot_tol"_a = -1.0, "scale"_a = -1,
      "perm"_a = std::vector<int32_t>());
  auto factor = [](int64_t symbolic, const double* data, int64_t nnz, bool cplx) {
    int64_t id = 0;
    std::string err;
    int32_t st;
    {
      nb::gil_scoped_release release;
      st = handle_factor<E>(symbolic, cplx, data, nnz, &id, &err);
    }
    return checked_id(st, id, err);
  };
  m.def(
      (prefix + "_factor").c_str(),
      [factor](int64_t symbolic, RealArray v) { return factor(symbolic, v.data(), v.shape(0), false); },
      "symbolic"_a, "values"_a);
  m.def(
      (prefix + "_factor").c_str(),
      [factor](int64_t symbolic, ComplexArray v) {
        return factor(symbolic, reinterpret_cast<const double*>(v.data()), v.shape(0), true);
      },
      "symbolic"_a, "values"_a);
  auto refactor = [](int64_t numeric, const double* data, int64_t nnz, bool cplx) {
    int64_t id = 0;
    std::string err;
    int32_t st;
    {
      nb::gil_scoped_release release;
      st = handle_refactor<E>(numeric, cplx, data, nnz, &id, &err);
    }
    return checked_id(st, id, err);
  };
  m.def(
      (prefix + "_refactor").c_str(),
      [refactor](int64_t numeric, RealArray v) { return refactor(numeric, v.data(), v.shape(0), false); },
      "numeric"_a, "values"_a);
  m.def(
      (prefix + "_refactor").c_str(),
      [refactor](int64_t numeric, ComplexArray v) {
        return refactor(numeric, reinterpret_cast<const double*>(v.data()), v.shape(0), true);
      },
      "numeric"_a, "values"_a);
  m.def(
      (prefix + "_handle_info").c_str(),
      [](int64_t id) {
        std::string err;
        nb::dict d;
        if (auto n = get_numeric<E>(id, &err)) {
          d["kind"] = "numeric";
          d["n"] = n->pattern().n;
          d["rcond"] = n->rcond;
          d["factor_nnz"] = n->factor_nnz;
          d["bytes"] = n->bytes();
          d["complex"] = n->is_complex;
          return d;
        }
        if (auto s = get_symbolic<E>(id, &err)) {
          d["kind"] = "symbolic";
          d["n"] = s->pattern->n;
          d["nnz"] = s->pattern->csc_nnz();
          d["bytes"] = s->bytes();
          return d;
        }
        throw nb::value_error(("nativax: " + err).c_str());
      },
      "id"_a);
  m.def((prefix + "_cache_info").c_str(), []() {
    auto& c = LruCache<E>::instance();
    nb::dict d;
    d["capacity"] = c.capacity();
    d["symbolic"] = stats_dict(c.symbolic_stats());
    d["numeric"] = stats_dict(c.numeric_stats());
    d["factorizations"] = c.factorizations();
    d["refactorizations"] = c.refactorizations();
    return d;
  });
  m.def((prefix + "_clear_cache").c_str(), []() { LruCache<E>::instance().clear(); });
  m.def((prefix + "_reset_cache_counters").c_str(), []() { LruCache<E>::instance().reset_counters(); });
  m.def((prefix + "_set_cache_size").c_str(), [](int64_t n) { LruCache<E>::instance().set_capacity(n); }, "entries"_a);
  m.def((prefix + "_set_cache_bytes").c_str(), [](int64_t n) { LruCache<E>::instance().set_max_bytes(n); }, "bytes"_a);
}

}  // namespace nativax
