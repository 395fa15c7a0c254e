// SuiteSparse CHOLMOD (supernodal or simplicial Cholesky, CHOLMOD chooses) as a direct engine for symmetric /
// Hermitian positive definite matrices given with both triangles. Real and complex (interleaved) values.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/factorization.h"
#include "common/options.h"
#include "common/pattern.h"
#include "common/registry.h"

#include <cholmod.h>

namespace nativax::cholmod {

// One cholmod_common per call (CHOLMOD keeps per-call workspace in it): RAII start/finish.
struct Common {
  cholmod_common c;
  Common() {
    cholmod_start(&c);
    c.print = 0;
    c.error_handler = nullptr;
  }
  ~Common() { cholmod_finish(&c); }
  Common(const Common&) = delete;
  Common& operator=(const Common&) = delete;
};

struct Symbolic {
  std::shared_ptr<const Pattern> pattern;
  Options opts;  // the fill-reducing ordering (CHOLMOD has no pivoting or scaling)
  std::vector<int32_t> mirror;  // CSC position of (j, i) for each CSC position of (i, j)
  cholmod_factor* L = nullptr;  // symbolic factor: fill-reducing ordering + elimination tree
  size_t native_bytes = 0;
  Symbolic() = default;
  Symbolic(const Symbolic&) = delete;
  Symbolic& operator=(const Symbolic&) = delete;
  ~Symbolic();
  size_t bytes() const { return native_bytes + pattern->bytes() + mirror.size() * sizeof(int32_t); }
};

struct Numeric : FactorizationBase<Symbolic> {
  cholmod_factor* L = nullptr;
  ~Numeric() override;
  int32_t solve_inplace(int mode, double* work, int64_t nrhs) override;
  // log det A (real: A is positive definite).
  double logdet() const;
};

struct Engine {
  using Symbolic = cholmod::Symbolic;
  using Numeric = cholmod::Numeric;
  static constexpr const char* kName = "CHOLMOD";
  static constexpr HandleKind kSymbolicKind = HandleKind::kCholmodSymbolic;
  static constexpr HandleKind kNumericKind = HandleKind::kCholmodNumeric;
  static std::shared_ptr<Symbolic> analyze(std::shared_ptr<const Pattern> pattern, const Options& opts,
                                           std::string* err);
  static int32_t factor(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
                        std::shared_ptr<Numeric>* out);
  static int32_t refactor(Numeric* num, std::vector<double> values, uint64_t hash);
};

}  // namespace nativax::cholmod
