// RAII owners of KLU symbolic/numeric objects and the operations on them (factor, refactor, solve).
#pragma once
#include <complex>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "klu/pattern.h"

#include <klu.h>  // has its own extern "C" guard

namespace nativax::klu {

// Per-solve status codes (mirrored in nativax/_status.py).
enum Status : int32_t {
  kOk = 0,
  kSingular = 1,          // zero pivot / structurally singular
  kNonFiniteMatrix = 2,   // NaN or Inf among the matrix values
  kNonFiniteRhs = 3,      // NaN or Inf in the right-hand side
  kFailed = 4,            // KLU reported an error (out of memory, too large)
};

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

struct Numeric {
  std::shared_ptr<Symbolic> symbolic;
  bool is_complex = false;
  std::vector<double> values;  // CSC values (interleaved re/im if complex): the exact cache key
  uint64_t hash = 0;
  klu_numeric* num = nullptr;
  double rcond = 0.0;
  // KLU's rcond and reciprocal pivot growth (klu_rgrowth) of the last *fresh* factorization: a refactor
  // (reused pivot order) is accepted only while both stay within a bound of these, so accuracy never drifts
  // with the history of what this entry was refactored from.
  double fresh_rcond = 0.0;
  double fresh_rgrowth = 0.0;
  size_t native_bytes = 0;
  int64_t refactors = 0;   // successful in-place klu_refactor calls
  std::mutex mu;           // KLU solves use the Numeric's workspace; refactor rewrites it
  Numeric() = default;
  Numeric(const Numeric&) = delete;
  Numeric& operator=(const Numeric&) = delete;
  ~Numeric();
  size_t bytes() const { return native_bytes + values.size() * sizeof(double); }
  bool matches(const Symbolic* s, bool cplx, const std::vector<double>& v, uint64_t h) const;
};

// Scatter COO values (input dtype T) into CSC order in double precision, summing duplicates.
// Returns false when any value is NaN or Inf.
template <typename T>
bool coo_to_csc(const Pattern& p, const T* coo, std::vector<double>* csc);

uint64_t values_hash(const std::vector<double>& v);

// Full numeric factorization. On kOk, *out holds a fresh Numeric.
int32_t factor(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
               std::shared_ptr<Numeric>* out);

// klu_refactor in place with new values (same pattern); falls back to a full factorization when refactor
// fails or the pivots degrade (reciprocal condition estimate drops by more than 1e3). The caller must own
// `num` exclusively or hold num->mu.
int32_t refactor(Numeric* num, std::vector<double> values, uint64_t hash);

// Solve op(A) X = B in place; work is column-major n x nrhs (interleaved re/im when complex).
// mode 0: A, 1: A^T, 2: A^H. Locks num->mu.
int32_t solve_inplace(Numeric* num, int mode, double* work, int64_t nrhs);

}  // namespace nativax::klu
