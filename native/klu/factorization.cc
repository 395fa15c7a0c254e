#include "klu/factorization.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "common/hash.h"


namespace nativax::klu {
namespace {

struct Common {
  klu_common c;
  Common() { klu_defaults(&c); }
  // KLU's defaults with the pivot tolerance and scaling of `o` (those KLU reads in factor and refactor).
  explicit Common(const Options& o) : Common() {
    if (o.pivot_tol >= 0.0) c.tol = o.pivot_tol;
    if (o.scale >= 0) c.scale = o.scale;  // 0 none, 1 sum, 2 max: KLU's own codes
  }
};

int32_t status_from_common(const klu_common& c) {
  if (c.status == KLU_SINGULAR) return kSingular;
  return c.status == KLU_OK ? kOk : kFailed;
}

}  // namespace

Symbolic::~Symbolic() {
  if (sym) {
    Common c;
    klu_free_symbolic(&sym, &c.c);
  }
}

Numeric::~Numeric() {
  if (num) {
    Common c;
    if (is_complex) {
      klu_z_free_numeric(&num, &c.c);
    } else {
      klu_free_numeric(&num, &c.c);
    }
  }
}

std::shared_ptr<Symbolic> analyze(std::shared_ptr<const Pattern> pattern, const Options& opts, std::string* err) {
  Common c(opts);
  auto s = std::make_shared<Symbolic>();
  s->pattern = std::move(pattern);
  s->opts = opts;
  auto* p = const_cast<Pattern*>(s->pattern.get());
  // A matrix without entries has an empty Ai whose data() may be null, which klu_analyze rejects as
  // KLU_INVALID; hand it a valid (never read) address so the all-zero matrix is analyzed and then reported
  // structurally singular by `factor`.
  int32_t no_entries = 0;
  int32_t* Ai = p->Ai.empty() ? &no_entries : p->Ai.data();
  const int n = static_cast<int>(p->n);
  if (opts.ordering == kOrderNatural || opts.ordering == kOrderGiven) {
    // The permutation as both row and column order (null: the identity); BTF may still split it into blocks.
    int32_t* q = opts.ordering == kOrderGiven ? const_cast<int32_t*>(opts.perm.data()) : nullptr;
    s->sym = klu_analyze_given(n, p->Ap.data(), Ai, q, q, &c.c);
  } else {
    c.c.ordering = opts.ordering == kOrderColamd ? 1 : 0;  // KLU: 0 AMD (default), 1 COLAMD
    s->sym = klu_analyze(n, p->Ap.data(), Ai, &c.c);
  }
  if (!s->sym) {
    *err = "KLU analyze failed (status " + std::to_string(c.c.status) + ")";
    return nullptr;
  }
  s->native_bytes = c.c.memusage;
  return s;
}

namespace {

// Reciprocal pivot growth min_j max|A(:,j)| / max|U(:,j)| (O(nnz)); 0 when KLU cannot compute it.
double rgrowth(Pattern* p, klu_symbolic* sym, klu_numeric* num, bool cplx, double* values) {
  Common c;
  int ok = cplx ? klu_z_rgrowth(p->Ap.data(), p->Ai.data(), values, sym, num, &c.c)
                : klu_rgrowth(p->Ap.data(), p->Ai.data(), values, sym, num, &c.c);
  return ok ? c.c.rgrowth : 0.0;
}

// A refactor keeps the old pivot order; accept it while rcond and pivot growth stay within these factors of
// the fresh factorization's, else factor afresh (partial pivoting). Measured in benchmarks/klu_bench.py (P3).
constexpr double kRefactorRcondBound = 1e-1;
constexpr double kRefactorGrowthBound = 1e-1;

}  // namespace

int32_t factor(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
               std::shared_ptr<Numeric>* out) {
  if (s->pattern->csc_nnz() == 0) return kSingular;  // no entries at all (n >= 1): structurally singular
  Common c(s->opts);
  auto* p = const_cast<Pattern*>(s->pattern.get());
  klu_numeric* num = cplx ? klu_z_factor(p->Ap.data(), p->Ai.data(), values.data(), s->sym, &c.c)
                          : klu_factor(p->Ap.data(), p->Ai.data(), values.data(), s->sym, &c.c);
  if (!num) return c.c.status == KLU_OK ? kFailed : status_from_common(c.c);
  auto n = std::make_shared<Numeric>();
  n->symbolic = s;
  n->is_complex = cplx;
  n->num = num;
  n->native_bytes = c.c.memusage;
  n->factor_nnz = static_cast<int64_t>(num->lnz) + num->unz + num->nzoff;
  if (cplx) {
    klu_z_rcond(s->sym, num, &c.c);
  } else {
    klu_rcond(s->sym, num, &c.c);
  }
  n->rcond = c.c.rcond;
  n->fresh_rcond = n->rcond;
  n->fresh_rgrowth = rgrowth(p, s->sym, num, cplx, values.data());
  n->rgrowth = n->fresh_rgrowth;
  n->values = std::move(values);
  n->hash = hash;
  *out = std::move(n);
  return kOk;
}

int32_t refactor(Numeric* n, std::vector<double> values, uint64_t hash) {
  Common c(n->symbolic->opts);
  Symbolic* s = n->symbolic.get();
  auto* p = const_cast<Pattern*>(s->pattern.get());
  bool ok = n->num != nullptr &&
            (n->is_complex ? klu_z_refactor(p->Ap.data(), p->Ai.data(), values.data(), s->sym, n->num, &c.c)
                           : klu_refactor(p->Ap.data(), p->Ai.data(), values.data(), s->sym, n->num, &c.c));
  double rc = 0.0, rg = 0.0;
  if (ok) {
    if (n->is_complex) {
      klu_z_rcond(s->sym, n->num, &c.c);
    } else {
      klu_rcond(s->sym, n->num, &c.c);
    }
    rc = c.c.rcond;
    ok = std::isfinite(rc) && rc > 0.0 && rc >= kRefactorRcondBound * n->fresh_rcond;
    if (ok) {
      rg = rgrowth(p, s->sym, n->num, n->is_complex, values.data());
      ok = std::isfinite(rg) && rg > 0.0 && rg >= kRefactorGrowthBound * n->fresh_rgrowth;
    }
  }
  if (ok) {
    n->rcond = rc;
    n->rgrowth = rg;
    n->values = std::move(values);
    n->hash = hash;
    n->refactors += 1;
    return kOk;
  }
  // Pivots went bad (or refactor failed): factor from scratch with fresh pivoting.
  std::shared_ptr<Numeric> fresh;
  int32_t st = factor(n->symbolic, n->is_complex, std::move(values), hash, &fresh);
  if (st != kOk) return st;
  std::swap(n->num, fresh->num);  // fresh now owns the old numeric and frees it
  n->rcond = fresh->rcond;
  n->fresh_rcond = fresh->fresh_rcond;
  n->fresh_rgrowth = fresh->fresh_rgrowth;
  n->rgrowth = fresh->rgrowth;
  n->native_bytes = fresh->native_bytes;
  n->factor_nnz = fresh->factor_nnz;
  n->values = std::move(fresh->values);
  n->hash = hash;
  return kOk;
}

double Numeric::condition_estimate() {
  std::lock_guard<std::mutex> lock(mu);  // klu_condest uses the numeric object's workspace
  Common c;
  auto* p = const_cast<Pattern*>(symbolic->pattern.get());
  int ok = is_complex ? klu_z_condest(p->Ap.data(), values.data(), symbolic->sym, num, &c.c)
                      : klu_condest(p->Ap.data(), values.data(), symbolic->sym, num, &c.c);
  return ok ? c.c.condest : std::numeric_limits<double>::quiet_NaN();
}

int32_t Numeric::solve_inplace(int mode, double* work, int64_t nrhs) {
  if (nrhs == 0) return kOk;
  Common c;
  Numeric* n = this;
  Symbolic* s = n->symbolic.get();
  const int ldim = static_cast<int>(s->pattern->n);
  std::lock_guard<std::mutex> lock(n->mu);
  // KLU solves 4 columns at a time internally; chunk to stay within int range.
  const int64_t chunk = 1 << 20;
  for (int64_t j0 = 0; j0 < nrhs; j0 += chunk) {
    int nr = static_cast<int>(std::min<int64_t>(chunk, nrhs - j0));
    double* B = work + (n->is_complex ? 2 : 1) * j0 * ldim;
    int ok;
    if (n->is_complex) {
      ok = mode == 0 ? klu_z_solve(s->sym, n->num, ldim, nr, B, &c.c)
                     : klu_z_tsolve(s->sym, n->num, ldim, nr, B, mode == 2 ? 1 : 0, &c.c);
    } else {
      ok = mode == 0 ? klu_solve(s->sym, n->num, ldim, nr, B, &c.c)
                     : klu_tsolve(s->sym, n->num, ldim, nr, B, &c.c);
    }
    if (!ok) return kFailed;
  }
  return kOk;
}

}  // namespace nativax::klu
