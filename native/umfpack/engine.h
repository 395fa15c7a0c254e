// SuiteSparse UMFPACK (multifrontal LU with partial pivoting) as a direct engine for general square matrices.
// Real and complex (interleaved) values; A, A^T and A^H solves on the same factorization.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/factorization.h"
#include "common/options.h"
#include "common/pattern.h"
#include "common/registry.h"

namespace nativax::umfpack {

// The pattern-only ordering; UMFPACK's real and complex symbolic objects differ, so the complex one is
// made on first use.
struct Symbolic {
  std::shared_ptr<const Pattern> pattern;
  Options opts;  // ordering, pivot tolerance, scaling (read by the analysis and every factorization)
  void* real = nullptr;
  void* cplx = nullptr;
  size_t native_bytes = 0;
  std::mutex mu;  // guards the lazy complex analysis
  Symbolic() = default;
  Symbolic(const Symbolic&) = delete;
  Symbolic& operator=(const Symbolic&) = delete;
  ~Symbolic();
  size_t bytes() const { return native_bytes + pattern->bytes(); }
  // The symbolic object for this value kind (nullptr + *status on failure).
  void* get(bool complex_values, int32_t* status);
};

struct Numeric : FactorizationBase<Symbolic> {
  void* num = nullptr;
  ~Numeric() override;
  int32_t solve_inplace(int mode, double* work, int64_t nrhs) override;
};

struct Engine {
  using Symbolic = umfpack::Symbolic;
  using Numeric = umfpack::Numeric;
  static constexpr const char* kName = "UMFPACK";
  static constexpr HandleKind kSymbolicKind = HandleKind::kUmfpackSymbolic;
  static constexpr HandleKind kNumericKind = HandleKind::kUmfpackNumeric;
  static std::shared_ptr<Symbolic> analyze(std::shared_ptr<const Pattern> pattern, const Options& opts,
                                           std::string* err);
  static int32_t factor(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
                        std::shared_ptr<Numeric>* out);
  // UMFPACK has no refactor-with-pivots-kept; this is a new numeric factorization on the held analysis.
  static int32_t refactor(Numeric* num, std::vector<double> values, uint64_t hash);
};

// The Control array nativax uses: defaults, except iterative refinement off (a direct solver, like KLU) and
// the CHOLMOD ordering rule (AMD/COLAMD, then METIS when fill is high), then the user's `opts`.
void control(double* c, const Options& opts = Options{});

// Whether the symbolic analysis uses UMFPACK's symmetric strategy (AMD/METIS on A+A^T, diagonal pivots
// preferred): a zero-free structural diagonal and at least half the off-diagonal pattern mirrored.
bool symmetric_strategy(const Pattern& p);

}  // namespace nativax::umfpack
