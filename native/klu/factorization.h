// RAII owners of KLU symbolic/numeric objects and the operations on them (factor, refactor, solve).
#pragma once
#include <complex>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/factorization.h"
#include "common/pattern.h"
#include "common/status.h"
#include "common/values.h"

#include <klu.h>  // has its own extern "C" guard

namespace nativax::klu {

struct Symbolic {
  std::shared_ptr<const Pattern> pattern;
  klu_symbolic* sym = nullptr;
  size_t native_bytes = 0;
  Symbolic() = default;
  Symbolic(const Symbolic&) = delete;
  Symbolic& operator=(const Symbolic&) = delete;
  ~Symbolic();
  size_t bytes() const { return native_bytes + pattern->bytes(); }
};

// KLU's analyze step (BTF + AMD ordering) on a validated pattern.
std::shared_ptr<Symbolic> analyze(std::shared_ptr<const Pattern> pattern, std::string* err);

struct Numeric : Factorization {
  std::shared_ptr<Symbolic> symbolic;
  bool is_complex = false;
  std::vector<double> values;  // CSC values (interleaved re/im if complex): the exact cache key
  uint64_t hash = 0;
  klu_numeric* num = nullptr;
  double rcond = 0.0;
  size_t native_bytes = 0;
  int64_t refactors = 0;   // successful in-place klu_refactor calls
  std::mutex mu;           // KLU solves use the Numeric's workspace; refactor rewrites it
  Numeric() = default;
  Numeric(const Numeric&) = delete;
  Numeric& operator=(const Numeric&) = delete;
  ~Numeric() override;
  bool complex_values() const override { return is_complex; }
  int32_t solve_inplace(int mode, double* work, int64_t nrhs) override;
  size_t bytes() const { return native_bytes + values.size() * sizeof(double); }
  bool matches(const Symbolic* s, bool cplx, const std::vector<double>& v, uint64_t h) const;
};

// Full numeric factorization. On kOk, *out holds a fresh Numeric.
int32_t factor(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
               std::shared_ptr<Numeric>* out);

// klu_refactor in place with new values (same pattern); falls back to a full factorization when refactor
// fails or the pivots degrade (reciprocal condition estimate drops by more than 1e3). The caller must own
// `num` exclusively or hold num->mu.
int32_t refactor(Numeric* num, std::vector<double> values, uint64_t hash);


}  // namespace nativax::klu
