// SuiteSparse KLU as a direct engine (common/engine.h): RAII owners of KLU symbolic/numeric objects and the
// operations on them (analyze, factor, refactor, solve).
#pragma once
#include <complex>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/factorization.h"
#include "common/options.h"
#include "common/pattern.h"
#include "common/registry.h"
#include "common/status.h"
#include "common/values.h"

#include <klu.h>  // has its own extern "C" guard

namespace nativax::klu {

struct Symbolic {
  std::shared_ptr<const Pattern> pattern;
  Options opts;  // ordering (used here), pivot tolerance and scaling (used by every factor/refactor)
  klu_symbolic* sym = nullptr;
  size_t native_bytes = 0;
  Symbolic() = default;
  Symbolic(const Symbolic&) = delete;
  Symbolic& operator=(const Symbolic&) = delete;
  ~Symbolic();
  size_t bytes() const { return native_bytes + pattern->bytes(); }
};

// KLU's analyze step (BTF + the fill-reducing ordering of `opts`: AMD by default, COLAMD, or a given /
// natural permutation through klu_analyze_given) on a validated pattern.
std::shared_ptr<Symbolic> analyze(std::shared_ptr<const Pattern> pattern, const Options& opts, std::string* err);

struct Numeric : FactorizationBase<Symbolic> {
  klu_numeric* num = nullptr;  // KLU solves use its workspace, so they hold `mu`
  // KLU's rcond and reciprocal pivot growth (klu_rgrowth) of the last *fresh* factorization: a refactor
  // (reused pivot order) is accepted only while both stay within a bound of these, so accuracy never drifts
  // with the history of what this entry was refactored from.
  double fresh_rcond = 0.0;
  double fresh_rgrowth = 0.0;
  ~Numeric() override;
  int32_t solve_inplace(int mode, double* work, int64_t nrhs) override;
  double condition_estimate() override;  // klu_condest: KLU's 1-norm estimate (a few solves)
};

// Full numeric factorization. On kOk, *out holds a fresh Numeric.
int32_t factor(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
               std::shared_ptr<Numeric>* out);

// klu_refactor in place with new values (same pattern); falls back to a full factorization when refactor
// fails or the pivots degrade (reciprocal condition estimate drops by more than 1e3). The caller must own
// `num` exclusively or hold num->mu.
int32_t refactor(Numeric* num, std::vector<double> values, uint64_t hash);


struct Engine {
  using Symbolic = klu::Symbolic;
  using Numeric = klu::Numeric;
  static constexpr const char* kName = "KLU";
  static constexpr HandleKind kSymbolicKind = HandleKind::kKluSymbolic;
  static constexpr HandleKind kNumericKind = HandleKind::kKluNumeric;
  static std::shared_ptr<Symbolic> analyze(std::shared_ptr<const Pattern> p, const Options& opts, std::string* err) {
    return klu::analyze(std::move(p), opts, err);
  }
  static int32_t factor(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
                        std::shared_ptr<Numeric>* out) {
    return klu::factor(s, cplx, std::move(values), hash, out);
  }
  static int32_t refactor(Numeric* num, std::vector<double> values, uint64_t hash) {
    return klu::refactor(num, std::move(values), hash);
  }
};

}  // namespace nativax::klu
