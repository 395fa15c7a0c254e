#include "umfpack/engine.h"

#include <algorithm>
#include <cmath>

#include "common/status.h"

#include <umfpack.h>

namespace nativax::umfpack {

void control(double* c, const Options& opts) {
  umfpack_di_defaults(c);
  c[UMFPACK_IRSTEP] = 0;
  // AMD/COLAMD first, METIS when their fill is high (CHOLMOD's rule): nested dissection is what keeps 3-D
  // meshes affordable; UMFPACK's own default is AMD/COLAMD only.
  c[UMFPACK_ORDERING] = UMFPACK_ORDERING_CHOLMOD;
  switch (opts.ordering) {
    case kOrderNatural: c[UMFPACK_ORDERING] = UMFPACK_ORDERING_NONE; break;
    case kOrderAmd:  // AMD on A + A^T (the symmetric strategy, set by the caller)
    case kOrderColamd: c[UMFPACK_ORDERING] = UMFPACK_ORDERING_AMD; break;  // COLAMD under the unsymmetric one
    case kOrderMetis: c[UMFPACK_ORDERING] = UMFPACK_ORDERING_METIS; break;
    case kOrderGiven: c[UMFPACK_ORDERING] = UMFPACK_ORDERING_GIVEN; break;
    default: break;
  }
  if (opts.pivot_tol >= 0.0) {
    c[UMFPACK_PIVOT_TOLERANCE] = opts.pivot_tol;
    c[UMFPACK_SYM_PIVOT_TOLERANCE] = opts.pivot_tol;  // the diagonal-preference threshold of the symmetric strategy
  }
  if (opts.scale >= 0) c[UMFPACK_SCALE] = opts.scale;  // 0 none, 1 sum, 2 max: UMFPACK's own codes
}

bool symmetric_strategy(const Pattern& p) {
  // The pattern's diagonal is full and at least half of its off-diagonal entries have their mirror image.
  // UMFPACK's own AUTO rule left a symmetric 3-D Poisson matrix on the unsymmetric strategy (COLAMD on the
  // columns, twice the factor and 1.9x the time of AMD/METIS on A+A^T), so nativax decides from the pattern.
  // Columns hold sorted rows, so each mirror lookup is a binary search.
  int64_t offdiag = 0, mirrored = 0, diag = 0;
  for (int64_t j = 0; j < p.n; ++j) {
    for (int32_t k = p.Ap[j]; k < p.Ap[j + 1]; ++k) {
      const int32_t i = p.Ai[k];
      if (i == j) {
        ++diag;
        continue;
      }
      ++offdiag;
      const auto first = p.Ai.begin() + p.Ap[i], last = p.Ai.begin() + p.Ap[i + 1];
      if (std::binary_search(first, last, static_cast<int32_t>(j))) ++mirrored;
    }
  }
  return diag == p.n && 2 * mirrored >= offdiag;
}

namespace {

int32_t status_of(int st) {
  if (st == UMFPACK_OK) return kOk;
  if (st == UMFPACK_WARNING_singular_matrix) return kSingular;
  return kFailed;
}

// The numeric object from `values` on `s` (nullptr with a status when singular or failed).
int32_t numeric(Symbolic* s, bool cplx, const std::vector<double>& values, void** out, double* rcond,
                size_t* bytes, int64_t* factor_nnz) {
  int32_t st = kOk;
  void* sym = s->get(cplx, &st);
  if (!sym) return st;
  const Pattern& p = *s->pattern;
  double ctl[UMFPACK_CONTROL], info[UMFPACK_INFO];
  control(ctl, s->opts);
  void* num = nullptr;
  int r = cplx ? umfpack_zi_numeric(p.Ap.data(), p.Ai.data(), values.data(), nullptr, sym, &num, ctl, info)
               : umfpack_di_numeric(p.Ap.data(), p.Ai.data(), values.data(), sym, &num, ctl, info);
  st = status_of(r);
  if (st != kOk) {
    if (num) cplx ? umfpack_zi_free_numeric(&num) : umfpack_di_free_numeric(&num);
    return st;
  }
  *out = num;
  *rcond = info[UMFPACK_RCOND];
  *bytes = static_cast<size_t>(info[UMFPACK_NUMERIC_SIZE] * info[UMFPACK_SIZE_OF_UNIT]);
  *factor_nnz = static_cast<int64_t>(info[UMFPACK_LNZ] + info[UMFPACK_UNZ]);
  return kOk;
}

void free_numeric(void** num, bool cplx) {
  if (*num) cplx ? umfpack_zi_free_numeric(num) : umfpack_di_free_numeric(num);
}

}  // namespace

Symbolic::~Symbolic() {
  if (real) umfpack_di_free_symbolic(&real);
  if (cplx) umfpack_zi_free_symbolic(&cplx);
}

void* Symbolic::get(bool complex_values, int32_t* status) {
  std::lock_guard<std::mutex> lock(mu);
  void*& slot = complex_values ? cplx : real;
  if (slot) return slot;
  const Pattern& p = *pattern;
  double ctl[UMFPACK_CONTROL], info[UMFPACK_INFO];
  control(ctl, opts);
  const bool sym = opts.ordering == kOrderAmd || (opts.ordering != kOrderColamd && symmetric_strategy(p));
  ctl[UMFPACK_STRATEGY] = sym ? UMFPACK_STRATEGY_SYMMETRIC : UMFPACK_STRATEGY_UNSYMMETRIC;
  const int n = static_cast<int>(p.n);
  // A given ordering is UMFPACK's Qinit (the symmetric permutation under the symmetric strategy).
  const int32_t* q = opts.ordering == kOrderGiven ? opts.perm.data() : nullptr;
  int r = complex_values
              ? umfpack_zi_qsymbolic(n, n, p.Ap.data(), p.Ai.data(), nullptr, nullptr, q, &slot, ctl, info)
              : umfpack_di_qsymbolic(n, n, p.Ap.data(), p.Ai.data(), nullptr, q, &slot, ctl, info);
  if (r != UMFPACK_OK) {
    slot = nullptr;
    *status = r == UMFPACK_WARNING_singular_matrix ? kSingular : kFailed;
    return nullptr;
  }
  native_bytes += static_cast<size_t>(info[UMFPACK_SYMBOLIC_SIZE] * info[UMFPACK_SIZE_OF_UNIT]);
  return slot;
}

Numeric::~Numeric() { free_numeric(&num, is_complex); }

std::shared_ptr<Symbolic> Engine::analyze(std::shared_ptr<const Pattern> pattern, const Options& opts,
                                          std::string* err) {
  auto s = std::make_shared<Symbolic>();
  s->pattern = std::move(pattern);
  s->opts = opts;
  if (s->pattern->csc_nnz() == 0) return s;  // factor reports it structurally singular
  int32_t st = kOk;
  if (!s->get(false, &st) && st == kFailed) {
    *err = "UMFPACK symbolic analysis failed (out of memory or invalid pattern)";
    return nullptr;
  }
  return s;  // a structurally singular pattern analyses without an object; factor reports it
}

int32_t Engine::factor(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
                       std::shared_ptr<Numeric>* out) {
  if (s->pattern->csc_nnz() == 0) return kSingular;
  auto n = std::make_shared<Numeric>();
  n->is_complex = cplx;
  int32_t st = numeric(s.get(), cplx, values, &n->num, &n->rcond, &n->native_bytes, &n->factor_nnz);
  if (st != kOk) return st;
  n->symbolic = s;
  n->values = std::move(values);
  n->hash = hash;
  *out = std::move(n);
  return kOk;
}

int32_t Engine::refactor(Numeric* n, std::vector<double> values, uint64_t hash) {
  void* fresh = nullptr;
  double rcond = 0.0;
  size_t bytes = 0;
  int64_t fnnz = 0;
  int32_t st = numeric(n->symbolic.get(), n->is_complex, values, &fresh, &rcond, &bytes, &fnnz);
  if (st != kOk) return st;
  free_numeric(&n->num, n->is_complex);
  n->num = fresh;
  n->rcond = rcond;
  n->native_bytes = bytes;
  n->factor_nnz = fnnz;
  n->values = std::move(values);
  n->hash = hash;
  n->refactors += 1;
  return kOk;
}

int32_t Numeric::solve_inplace(int mode, double* work, int64_t nrhs) {
  if (nrhs == 0) return kOk;
  const Pattern& p = *symbolic->pattern;
  const int64_t n = p.n;
  // UMFPACK_At is the conjugate transpose, UMFPACK_Aat the plain transpose (identical for real values).
  const int sys = mode == kModeA ? UMFPACK_A : (mode == kModeH || !is_complex ? UMFPACK_At : UMFPACK_Aat);
  double ctl[UMFPACK_CONTROL], info[UMFPACK_INFO];
  control(ctl, symbolic->opts);
  const int w = is_complex ? 2 : 1;
  std::vector<int> Wi(n);
  std::vector<double> W(static_cast<size_t>(w) * 5 * n);
  std::vector<double> x(static_cast<size_t>(w) * n);
  std::lock_guard<std::mutex> lock(mu);  // a handle refactor replaces `num`
  for (int64_t j = 0; j < nrhs; ++j) {
    double* b = work + w * n * j;
    int r = is_complex ? umfpack_zi_wsolve(sys, p.Ap.data(), p.Ai.data(), values.data(), nullptr, x.data(), nullptr,
                                           b, nullptr, num, ctl, info, Wi.data(), W.data())
                       : umfpack_di_wsolve(sys, p.Ap.data(), p.Ai.data(), values.data(), x.data(), b, num, ctl, info,
                                           Wi.data(), W.data());
    if (r != UMFPACK_OK && r != UMFPACK_WARNING_singular_matrix) return kFailed;
    std::copy(x.begin(), x.end(), b);
  }
  return kOk;
}

}  // namespace nativax::umfpack
