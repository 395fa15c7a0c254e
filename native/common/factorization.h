// The factorization interface the batched driver, the caches and the handles work with. An engine's numeric
// object derives from FactorizationBase (data every engine keeps) and implements `solve_inplace`.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "common/pattern.h"

namespace nativax {

// What the batched driver needs: the value kind and an in-place multi-column solve.
struct Factorization {
  virtual ~Factorization() = default;
  virtual bool complex_values() const = 0;
  // Solve op(A) X = B in place; work is column-major n x nrhs (interleaved re/im when complex);
  // mode: kModeA / kModeT / kModeH. Returns a Status. Thread-safe (the engine locks what it must).
  virtual int32_t solve_inplace(int mode, double* work, int64_t nrhs) = 0;
};

// Shared state of a numeric factorization of `Sym` (an engine's symbolic analysis, holding `pattern`).
template <typename Sym>
struct FactorizationBase : Factorization {
  std::shared_ptr<Sym> symbolic;
  bool is_complex = false;
  std::vector<double> values;  // CSC values (interleaved re/im if complex): the exact cache key
  uint64_t hash = 0;
  size_t native_bytes = 0;
  int64_t refactors = 0;  // successful numeric refactorizations reusing this object
  double rcond = 0.0;     // the engine's reciprocal condition estimate (0 when it has none)
  int64_t factor_nnz = 0;  // entries of the factors (fill), as the engine reports them (0 when unknown)
  std::mutex mu;          // serialises solves against refactorization

  FactorizationBase() = default;
  FactorizationBase(const FactorizationBase&) = delete;
  FactorizationBase& operator=(const FactorizationBase&) = delete;
  bool complex_values() const override { return is_complex; }
  const Pattern& pattern() const { return *symbolic->pattern; }
  size_t bytes() const { return native_bytes + values.size() * sizeof(double); }
  bool matches(const Sym* s, bool cplx, const std::vector<double>& v, uint64_t h) const {
    return h == hash && s == symbolic.get() && cplx == is_complex && v.size() == values.size() &&
           std::memcmp(v.data(), values.data(), v.size() * sizeof(double)) == 0;
  }
};

}  // namespace nativax
