#include "cholmod/engine.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>

#include "common/status.h"

namespace nativax::cholmod {
namespace {

// A non-owning cholmod_sparse view of the lower triangle of pattern `p` (stype -1) with optional values.
cholmod_sparse view(const Pattern& p, const double* values, bool cplx) {
  cholmod_sparse A;
  std::memset(&A, 0, sizeof(A));
  A.nrow = A.ncol = static_cast<size_t>(p.n);
  A.nzmax = static_cast<size_t>(std::max<int64_t>(p.csc_nnz(), 1));
  A.p = const_cast<int32_t*>(p.Ap.data());
  A.i = const_cast<int32_t*>(p.Ai.data());
  A.x = const_cast<double*>(values);
  A.stype = -1;
  A.itype = CHOLMOD_INT;
  A.xtype = values == nullptr ? CHOLMOD_PATTERN : (cplx ? CHOLMOD_COMPLEX : CHOLMOD_REAL);
  A.dtype = CHOLMOD_DOUBLE;
  A.sorted = 1;
  A.packed = 1;
  return A;
}

size_t factor_bytes(const cholmod_factor* L) {
  const size_t w = L->xtype == CHOLMOD_COMPLEX ? 16 : 8;
  if (L->is_super) return L->xsize * w + L->ssize * sizeof(int32_t) + 4 * L->n * sizeof(int32_t);
  return L->nzmax * (w + sizeof(int32_t)) + 4 * L->n * sizeof(int32_t);
}

// Symmetric (Hermitian when complex) values within a relative tolerance, and a real diagonal when complex.
bool symmetric(const Symbolic& s, const std::vector<double>& v, bool cplx) {
  const Pattern& p = *s.pattern;
  for (int64_t j = 0; j < p.n; ++j) {
    for (int32_t q = p.Ap[j]; q < p.Ap[j + 1]; ++q) {
      const int32_t i = p.Ai[q];
      if (i < j) continue;
      const int32_t m = s.mirror[q];
      if (cplx) {
        const std::complex<double> a(v[2 * q], v[2 * q + 1]), b(v[2 * m], -v[2 * m + 1]);
        if (std::abs(a - b) > 1e-10 * (std::abs(a) + std::abs(b))) return false;
      } else if (std::abs(v[q] - v[m]) > 1e-10 * (std::abs(v[q]) + std::abs(v[m]))) {
        return false;
      }
    }
  }
  return true;
}

template <typename T>
T conj_of(const T& v) {
  if constexpr (std::is_floating_point_v<T>) {
    return v;
  } else {
    return std::conj(v);
  }
}

}  // namespace

Symbolic::~Symbolic() {
  if (L) {
    Common c;
    cholmod_free_factor(&L, &c.c);
  }
}

Numeric::~Numeric() {
  if (L) {
    Common c;
    cholmod_free_factor(&L, &c.c);
  }
}

std::shared_ptr<Symbolic> Engine::analyze(std::shared_ptr<const Pattern> pattern, const Options& opts,
                                          std::string* err) {
  auto s = std::make_shared<Symbolic>();
  s->opts = opts;
  const Pattern& p = *pattern;
  s->mirror.assign(p.csc_nnz(), -1);
  for (int64_t j = 0; j < p.n; ++j) {
    for (int32_t q = p.Ap[j]; q < p.Ap[j + 1]; ++q) {
      const int32_t i = p.Ai[q];
      const int32_t* b = p.Ai.data() + p.Ap[i];
      const int32_t* e = p.Ai.data() + p.Ap[i + 1];
      const int32_t* f = std::lower_bound(b, e, static_cast<int32_t>(j));
      if (f == e || *f != j) {
        *err = "CHOLMOD needs a symmetric sparsity pattern with both triangles stored: entry (" +
               std::to_string(i) + ", " + std::to_string(j) + ") is present but (" + std::to_string(j) + ", " +
               std::to_string(i) + ") is not";
        return nullptr;
      }
      s->mirror[q] = static_cast<int32_t>(f - p.Ai.data());
    }
  }
  s->pattern = std::move(pattern);
  Common c;
  cholmod_sparse A = view(*s->pattern, nullptr, false);
  // The default lets CHOLMOD try AMD (and METIS when AMD's fill is high); otherwise exactly one method.
  if (opts.ordering == kOrderGiven) {
    c.c.nmethods = 1;  // only the given permutation (CHOLMOD would otherwise also try AMD and keep the best)
    c.c.method[0].ordering = CHOLMOD_GIVEN;
    s->L = cholmod_analyze_p(&A, const_cast<int32_t*>(opts.perm.data()), nullptr, 0, &c.c);
  } else {
    if (opts.ordering != kOrderDefault) {
      c.c.nmethods = 1;
      c.c.method[0].ordering = opts.ordering == kOrderNatural ? CHOLMOD_NATURAL
                               : opts.ordering == kOrderMetis ? CHOLMOD_METIS
                               : opts.ordering == kOrderNesdis ? CHOLMOD_NESDIS
                                                               : CHOLMOD_AMD;
      if (opts.ordering == kOrderNatural) c.c.postorder = 0;  // natural means the identity, not its postorder
    }
    s->L = cholmod_analyze(&A, &c.c);
  }
  if (!s->L || c.c.status < CHOLMOD_OK) {
    *err = "CHOLMOD analyze failed (status " + std::to_string(c.c.status) + ")";
    return nullptr;
  }
  s->native_bytes = factor_bytes(s->L);
  return s;
}

namespace {

// The Hermitian (symmetric) part (A + A^H) / 2 of values that passed `symmetric`: rounding-level asymmetry,
// and a rounding-level imaginary part on the diagonal (what products of operators leave), are removed
// instead of reaching CHOLMOD, which reads one triangle and would treat an imaginary diagonal as indefinite.
std::vector<double> hermitian_part(const Symbolic& s, const std::vector<double>& v, bool cplx) {
  std::vector<double> h(v.size());
  const Pattern& p = *s.pattern;
  for (int64_t q = 0; q < p.csc_nnz(); ++q) {
    const int32_t m = s.mirror[q];
    if (cplx) {
      h[2 * q] = 0.5 * (v[2 * q] + v[2 * m]);
      h[2 * q + 1] = 0.5 * (v[2 * q + 1] - v[2 * m + 1]);  // zero on the diagonal (m == q)
    } else {
      h[q] = 0.5 * (v[q] + v[m]);
    }
  }
  return h;
}

size_t factor_entries(const cholmod_factor* L) { return L->is_super ? L->xsize : L->nzmax; }

// Factorize `values` into `L` (symbolic or numeric, refactored in place).
int32_t factorize(const Symbolic& s, bool cplx, const std::vector<double>& values, cholmod_factor* L,
                  double* rcond) {
  if (!symmetric(s, values, cplx)) return kNotSymmetric;
  const std::vector<double> herm = hermitian_part(s, values, cplx);
  Common c;
  cholmod_sparse A = view(*s.pattern, herm.data(), cplx);
  int ok = cholmod_factorize(&A, L, &c.c);
  if (c.c.status == CHOLMOD_NOT_POSDEF || (ok && L->minor < L->n)) return kNotPositiveDefinite;
  if (!ok || c.c.status < CHOLMOD_OK) return kFailed;
  // A simplicial LDL^T (CHOLMOD's choice for very sparse factors) succeeds on indefinite matrices with
  // nonzero leading minors; a Cholesky engine must not: every D_jj must be positive.
  if (!L->is_super && !L->is_ll) {
    const int w = cplx ? 2 : 1;
    const double* x = static_cast<const double*>(L->x);
    const int32_t* Lp = static_cast<const int32_t*>(L->p);
    for (size_t j = 0; j < L->n; ++j) {
      if (!(x[w * Lp[j]] > 0.0)) return kNotPositiveDefinite;
    }
  }
  *rcond = cholmod_rcond(L, &c.c);
  return kOk;
}

}  // namespace

int32_t Engine::factor(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
                       std::shared_ptr<Numeric>* out) {
  if (s->pattern->csc_nnz() == 0) return kSingular;
  auto n = std::make_shared<Numeric>();
  {
    Common c;
    n->L = cholmod_copy_factor(s->L, &c.c);
    if (!n->L) return kFailed;
  }
  int32_t st = factorize(*s, cplx, values, n->L, &n->rcond);
  if (st != kOk) return st;
  n->symbolic = s;
  n->is_complex = cplx;
  n->native_bytes = factor_bytes(n->L);
  n->factor_nnz = static_cast<int64_t>(factor_entries(n->L));
  n->values = std::move(values);
  n->hash = hash;
  *out = std::move(n);
  return kOk;
}

int32_t Engine::refactor(Numeric* n, std::vector<double> values, uint64_t hash) {
  int32_t st = factorize(*n->symbolic, n->is_complex, values, n->L, &n->rcond);
  if (st != kOk) return st;
  n->native_bytes = factor_bytes(n->L);
  n->factor_nnz = static_cast<int64_t>(factor_entries(n->L));
  n->values = std::move(values);
  n->hash = hash;
  n->refactors += 1;
  return kOk;
}

int32_t Numeric::solve_inplace(int mode, double* work, int64_t nrhs) {
  if (nrhs == 0) return kOk;
  const int64_t n = symbolic->pattern->n;
  const int64_t count = (is_complex ? 2 : 1) * n * nrhs;
  // A is symmetric (Hermitian): A^H = A, and A^T = conj(A), solved as A conj(x) = conj(b).
  const bool conjugate = is_complex && mode == kModeT;
  if (conjugate) {
    for (int64_t q = 1; q < count; q += 2) work[q] = -work[q];
  }
  Common c;
  cholmod_dense B;
  std::memset(&B, 0, sizeof(B));
  B.nrow = static_cast<size_t>(n);
  B.ncol = static_cast<size_t>(nrhs);
  B.nzmax = B.nrow * B.ncol;
  B.d = B.nrow;
  B.x = work;
  B.xtype = is_complex ? CHOLMOD_COMPLEX : CHOLMOD_REAL;
  B.dtype = CHOLMOD_DOUBLE;
  cholmod_dense* X;
  {
    std::lock_guard<std::mutex> lock(mu);
    X = cholmod_solve(CHOLMOD_A, L, &B, &c.c);
  }
  if (!X) return kFailed;
  std::memcpy(work, X->x, sizeof(double) * count);
  cholmod_free_dense(&X, &c.c);
  if (conjugate) {
    for (int64_t q = 1; q < count; q += 2) work[q] = -work[q];
  }
  return kOk;
}

double Numeric::logdet() const {
  const int w = is_complex ? 2 : 1;
  const double* x = static_cast<const double*>(L->x);
  double ld = 0.0;
  if (L->is_super) {
    const int32_t* super = static_cast<const int32_t*>(L->super);
    const int32_t* pi = static_cast<const int32_t*>(L->pi);
    const int32_t* px = static_cast<const int32_t*>(L->px);
    for (size_t s = 0; s < L->nsuper; ++s) {
      const int32_t nscol = super[s + 1] - super[s], nsrow = pi[s + 1] - pi[s];
      for (int32_t jj = 0; jj < nscol; ++jj) ld += 2.0 * std::log(x[w * (px[s] + jj + jj * nsrow)]);
    }
    return ld;
  }
  const int32_t* Lp = static_cast<const int32_t*>(L->p);
  for (size_t j = 0; j < L->n; ++j) ld += (L->is_ll ? 2.0 : 1.0) * std::log(x[w * Lp[j]]);
  return ld;
}

}  // namespace nativax::cholmod
