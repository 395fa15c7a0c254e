// The contract of a sparse direct engine (native/<engine>/engine.h), and the handle operations every engine
// gets from it. An engine is a struct with
//   using Symbolic = ...;   // holds `std::shared_ptr<const Pattern> pattern`; `size_t bytes() const`
//   using Numeric = ...;    // derives from FactorizationBase<Symbolic>, implements solve_inplace
//   static constexpr const char* kName;                       // "CHOLMOD", for messages
//   static constexpr HandleKind kSymbolicKind, kNumericKind;  // registry kinds of its handles
//   static std::shared_ptr<Symbolic> analyze(std::shared_ptr<const Pattern>, const Options&, std::string* err);
//                                                           // Symbolic keeps the options as `opts`
//   static int32_t factor(const std::shared_ptr<Symbolic>&, bool cplx, std::vector<double> csc_values,
//                         uint64_t hash, std::shared_ptr<Numeric>* out);        // returns a Status
//   static int32_t refactor(Numeric*, std::vector<double> csc_values, uint64_t hash);  // in place; the caller
//                                                              // owns the object exclusively or holds its mu
// Adding an engine: that struct, its FFI handler symbols (common/engine_ffi.h), and one `bind_engine` call.
#pragma once
#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common/lru_cache.h"
#include "common/registry.h"
#include "common/status.h"
#include "common/values.h"

namespace nativax {

template <typename E>
std::shared_ptr<typename E::Symbolic> get_symbolic(int64_t id, std::string* err) {
  return std::static_pointer_cast<typename E::Symbolic>(registry().get(id, E::kSymbolicKind, err));
}

template <typename E>
std::shared_ptr<typename E::Numeric> get_numeric(int64_t id, std::string* err) {
  return std::static_pointer_cast<typename E::Numeric>(registry().get(id, E::kNumericKind, err));
}

// COO `values` (double, or interleaved complex double) of pattern `p` in CSC order; false + *err when the
// length is wrong or a value is not finite.
inline bool csc_values(const Pattern& p, bool cplx, const double* values, int64_t nnz, std::vector<double>* csc,
                       std::string* err) {
  if (nnz != p.coo_nnz()) {
    *err = "`values` has " + std::to_string(nnz) + " entries but the pattern has " + std::to_string(p.coo_nnz());
    return false;
  }
  bool finite = cplx ? coo_to_csc(p, reinterpret_cast<const std::complex<double>*>(values), csc)
                     : coo_to_csc(p, values, csc);
  if (!finite) {
    *err = "`values` contain NaN or Inf";
    return false;
  }
  return true;
}

// The cache-managed numeric factorization of one COO value set `coo` (T: double or std::complex<double>) on
// the analysis `s`: found by exact values, or built. kNonFiniteMatrix when a value is NaN/Inf; *hit as in
// LruCache::numeric. Every FFI handler that factors COO values goes through here.
template <typename E, typename T>
int32_t cached_numeric(const std::shared_ptr<typename E::Symbolic>& s, const T* coo,
                       std::shared_ptr<typename E::Numeric>* out, bool* hit = nullptr) {
  std::vector<double> csc;
  if (!coo_to_csc(*s->pattern, coo, &csc)) return kNonFiniteMatrix;
  const uint64_t h = values_hash(csc);
  return LruCache<E>::instance().numeric(s, !std::is_floating_point_v<T>, std::move(csc), h, out, hit);
}

// Handle operations. Each returns a status (kOk, kSingular, ...); argument errors give -1 and *err.
template <typename E>
int32_t handle_analyze(int64_t n, const int32_t* rows, const int32_t* cols, int64_t nnz, int64_t* id,
                       std::string* err, const Options& opts = Options{}) {
  auto s = LruCache<E>::instance().symbolic(n, rows, cols, nnz, err, opts);
  if (!s) return -1;
  *id = registry().insert(s, E::kSymbolicKind);
  return kOk;
}

// A numeric handle owns a private factorization (never shared with the cache: refactor rewrites it).
template <typename E>
int32_t handle_factor(int64_t symbolic_id, bool cplx, const double* values, int64_t nnz, int64_t* id,
                      std::string* err) {
  auto s = get_symbolic<E>(symbolic_id, err);
  if (!s) return -1;
  std::vector<double> csc;
  if (!csc_values(*s->pattern, cplx, values, nnz, &csc, err)) return -1;
  const uint64_t h = values_hash(csc);
  std::shared_ptr<typename E::Numeric> num;
  int32_t st = E::factor(s, cplx, std::move(csc), h, &num);
  if (st != kOk) return st;
  *id = registry().insert(num, E::kNumericKind);
  return kOk;
}

// Consumes `numeric_id` (it is freed) and returns the refactored factorization under a new id.
template <typename E>
int32_t handle_refactor(int64_t numeric_id, bool cplx, const double* values, int64_t nnz, int64_t* id,
                        std::string* err) {
  auto num = get_numeric<E>(numeric_id, err);
  if (!num) return -1;
  if (num->is_complex != cplx) {
    *err = "`values` must be complex exactly when the factorization is complex";
    return -1;
  }
  std::vector<double> csc;
  if (!csc_values(num->pattern(), num->is_complex, values, nnz, &csc, err)) return -1;
  const uint64_t h = values_hash(csc);
  registry().release(numeric_id);  // no one can reach it through a stale handle
  int32_t st;
  {
    std::lock_guard<std::mutex> lock(num->mu);  // a solve in flight on another thread finishes first
    st = E::refactor(num.get(), std::move(csc), h);
  }
  if (st != kOk) return st;
  *id = registry().insert(num, E::kNumericKind);
  return kOk;
}

}  // namespace nativax
