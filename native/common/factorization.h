// The factorization interface the batched driver, the caches and the handles work with. An engine's numeric
// object derives from FactorizationBase (data every engine keeps) and implements `solve_inplace`.
#pragma once
#include <cstdint>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "common/pattern.h"
#include "common/status.h"

namespace nativax {

// Below this pivot-ratio rcond a solve also computes the 1-norm condition estimate (once per factorization)
// so that "singular to working precision" is decided on a real estimate, not on the pivot ratio alone.
inline constexpr double kCondestGate = 1e-10;

// What the batched driver needs: the value kind and an in-place multi-column solve.
struct Factorization {
  virtual ~Factorization() = default;
  virtual bool complex_values() const = 0;
  // Solve op(A) X = B in place; work is column-major n x nrhs (interleaved re/im when complex);
  // mode: kModeA / kModeT / kModeH. Returns a Status. Thread-safe (the engine locks what it must).
  virtual int32_t solve_inplace(int mode, double* work, int64_t nrhs) = 0;
  // Writes info[kInfoRcond .. kInfoFactorNnz] (common/status.h); the condition estimate only when `condest`
  // (engines without one write NaN). Thread-safe.
  virtual void diagnostics(double* info, bool condest) = 0;
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
  double rgrowth = std::numeric_limits<double>::quiet_NaN();  // reciprocal pivot growth (NaN: not computed)
  std::mutex mu;          // serialises solves against refactorization

  FactorizationBase() = default;
  FactorizationBase(const FactorizationBase&) = delete;
  FactorizationBase& operator=(const FactorizationBase&) = delete;
  bool complex_values() const override { return is_complex; }
  void diagnostics(double* info, bool condest) override {
    double rc, rg;
    int64_t fnnz;
    uint64_t h;
    {
      std::lock_guard<std::mutex> lock(mu);
      rc = rcond;
      rg = rgrowth;
      fnnz = factor_nnz;
      h = hash;
    }
    info[kInfoRcond] = rc;
    // Asked for, or the cheap pivot-ratio estimate is small enough that only a real estimate can tell an
    // ill-conditioned matrix from one singular to working precision: estimate (once per factorization).
    const bool want = condest || !(rc >= kCondestGate);
    info[kInfoCondest] = want ? cached_condest(h) : std::numeric_limits<double>::quiet_NaN();
    info[kInfoRgrowth] = rg;
    info[kInfoFactorNnz] = static_cast<double>(fnnz);
  }
  // A 1-norm condition number estimate ||A||_1 ||A^{-1}||_1 (Hager/Higham, as LAPACK's xLACN2: a few solves
  // with A and A^H on this factorization). Engines with their own estimator override it. Takes `mu` itself
  // (through solve_inplace); the caller must not hold it.
  virtual double condition_estimate() { return hager_condest(); }

 private:
  std::mutex condest_mu_;
  bool condest_valid_ = false;
  uint64_t condest_hash_ = 0;
  double condest_ = 0.0;

  double cached_condest(uint64_t h) {
    std::lock_guard<std::mutex> lock(condest_mu_);
    if (!condest_valid_ || condest_hash_ != h) {
      condest_ = condition_estimate();
      condest_hash_ = h;
      condest_valid_ = true;
    }
    return condest_;
  }

  double hager_condest() {
    const Pattern& p = pattern();
    const int64_t n = p.n;
    const int W = is_complex ? 2 : 1;
    double norm1 = 0.0;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (int64_t j = 0; j < n; ++j) {
        double col = 0.0;
        for (int32_t q = p.Ap[j]; q < p.Ap[j + 1]; ++q) {
          col += is_complex ? std::hypot(values[2 * q], values[2 * q + 1]) : std::abs(values[q]);
        }
        norm1 = std::max(norm1, col);
      }
    }
    if (n == 0 || norm1 == 0.0) return std::numeric_limits<double>::infinity();
    auto abs_at = [&](const std::vector<double>& v, int64_t i) {
      return W == 2 ? std::hypot(v[2 * i], v[2 * i + 1]) : std::abs(v[i]);
    };
    auto norm_1 = [&](const std::vector<double>& v) {
      double s = 0.0;
      for (int64_t i = 0; i < n; ++i) s += abs_at(v, i);
      return s;
    };
    std::vector<double> x(W * n, 0.0), y;
    for (int64_t i = 0; i < n; ++i) x[W * i] = 1.0 / static_cast<double>(n);
    double est = 0.0;
    int64_t jlast = -1;
    for (int iter = 0; iter < 5; ++iter) {
      y = x;
      if (solve_inplace(kModeA, y.data(), 1) != kOk) return std::numeric_limits<double>::quiet_NaN();
      const double e = norm_1(y);
      if (!std::isfinite(e)) return std::numeric_limits<double>::infinity();
      if (iter > 0 && e <= est) break;
      est = e;
      std::vector<double> z(W * n, 0.0);  // sign(y)
      for (int64_t i = 0; i < n; ++i) {
        const double a = abs_at(y, i);
        if (W == 2) {
          z[2 * i] = a > 0 ? y[2 * i] / a : 1.0;
          z[2 * i + 1] = a > 0 ? y[2 * i + 1] / a : 0.0;
        } else {
          z[i] = y[i] >= 0 ? 1.0 : -1.0;
        }
      }
      if (solve_inplace(is_complex ? kModeH : kModeT, z.data(), 1) != kOk) {
        return std::numeric_limits<double>::quiet_NaN();
      }
      int64_t j = 0;
      double zmax = -1.0, ztx = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const double a = abs_at(z, i);
        if (a > zmax) {
          zmax = a;
          j = i;
        }
        ztx += W == 2 ? z[2 * i] * x[2 * i] + z[2 * i + 1] * x[2 * i + 1] : z[i] * x[i];
      }
      if (iter > 0 && (zmax <= ztx || j == jlast)) break;
      jlast = j;
      std::fill(x.begin(), x.end(), 0.0);
      x[W * j] = 1.0;
    }
    // Higham's extra test vector guards against the rare matrices the iteration underestimates.
    for (int64_t i = 0; i < n; ++i) {
      x[W * i] = (i % 2 ? -1.0 : 1.0) * (1.0 + static_cast<double>(i) / std::max<int64_t>(n - 1, 1));
      if (W == 2) x[2 * i + 1] = 0.0;
    }
    if (solve_inplace(kModeA, x.data(), 1) == kOk) est = std::max(est, 2.0 * norm_1(x) / (3.0 * n));
    return est * norm1;
  }

 public:
  const Pattern& pattern() const { return *symbolic->pattern; }
  size_t bytes() const { return native_bytes + values.size() * sizeof(double); }
  bool matches(const Sym* s, bool cplx, const std::vector<double>& v, uint64_t h) const {
    return h == hash && s == symbolic.get() && cplx == is_complex && v.size() == values.size() &&
           std::memcmp(v.data(), values.data(), v.size() * sizeof(double)) == 0;
  }
};

}  // namespace nativax
