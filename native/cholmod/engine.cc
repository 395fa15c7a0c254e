#include "cholmod/engine.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>

#include "common/status.h"

namespace nativax::cholmod {
namespace {

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

// Takahashi recurrence on a simplicial LDL^T factor (unit L, diagonal slot holds D): Z = A_perm^{-1} on the
// pattern of L (lower part, column-compressed like L). Columns j = n-1 .. 0:
//   Z_ij = -sum_{k in S_j} Z_ik L_kj (i in S_j),  Z_jj = 1/d_j - sum_{k in S_j} conj(L_kj) Z_kj,
// with S_j the off-diagonal rows of column j and Z_ik = conj(Z_ki) for i < k.
template <typename T>
void takahashi(const cholmod_factor* F, std::vector<T>* Z) {
  const int32_t n = static_cast<int32_t>(F->n);
  const int32_t* Lp = static_cast<const int32_t*>(F->p);
  const int32_t* Li = static_cast<const int32_t*>(F->i);
  const T* Lx = static_cast<const T*>(F->x);
  Z->assign(Lp[n], T(0));
  std::vector<int32_t> pos(n, -1);
  std::vector<T> acc;
  for (int32_t j = n - 1; j >= 0; --j) {
    const int32_t p0 = Lp[j], p1 = Lp[j + 1];
    const int32_t m = p1 - p0 - 1;  // off-diagonal count
    acc.assign(m, T(0));
    for (int32_t t = 0; t < m; ++t) pos[Li[p0 + 1 + t]] = t;
    for (int32_t t = 0; t < m; ++t) {
      const int32_t k = Li[p0 + 1 + t];
      const T lkj = Lx[p0 + 1 + t];
      acc[t] += (*Z)[Lp[k]] * lkj;  // Z_kk L_kj
      for (int32_t q = Lp[k] + 1; q < Lp[k + 1]; ++q) {
        const int32_t pi = pos[Li[q]];
        if (pi < 0) continue;
        const T zik = (*Z)[q];               // Z_ik, i > k
        acc[pi] += zik * lkj;                // row i: Z_ik L_kj
        acc[t] += conj_of(zik) * Lx[p0 + 1 + pi];  // row k: Z_ki L_ij
      }
    }
    T zjj = T(1.0 / std::real(Lx[p0]));
    for (int32_t t = 0; t < m; ++t) {
      (*Z)[p0 + 1 + t] = -acc[t];
      zjj -= conj_of(Lx[p0 + 1 + t]) * (-acc[t]);
    }
    (*Z)[p0] = zjj;
    for (int32_t t = 0; t < m; ++t) pos[Li[p0 + 1 + t]] = -1;
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

int32_t Numeric::selected_inverse_transposed(std::vector<double>* out) const {
  Common c;
  cholmod_factor* F = cholmod_copy_factor(L, &c.c);
  if (!F) return kFailed;
  struct Free {
    cholmod_factor** f;
    cholmod_common* c;
    ~Free() { cholmod_free_factor(f, c); }
  } guard{&F, &c.c};
  if (!cholmod_change_factor(F->xtype, /*to_ll=*/0, /*to_super=*/0, /*to_packed=*/1, /*to_monotonic=*/1, F, &c.c)) {
    return kFailed;
  }
  const Pattern& p = *symbolic->pattern;
  const int32_t n = static_cast<int32_t>(p.n);
  const int32_t* perm = static_cast<const int32_t*>(F->Perm);
  std::vector<int32_t> inv(n);
  for (int32_t k = 0; k < n; ++k) inv[perm[k]] = k;
  const int32_t* Lp = static_cast<const int32_t*>(F->p);
  const int32_t* Li = static_cast<const int32_t*>(F->i);
  // Z on L's pattern; an entry (a, b) of A^{-1} is Z(inv a, inv b), stored in column min, row max.
  auto run = [&]<typename T>() -> int32_t {
    std::vector<T> Z;
    takahashi<T>(F, &Z);
    std::vector<int32_t> where(n, -1);
    const int64_t nnz = p.coo_nnz();
    out->assign((is_complex ? 2 : 1) * nnz, 0.0);
    T* o = reinterpret_cast<T*>(out->data());
    // Group the COO entries by the Z column they read, then scatter that column once.
    std::vector<std::vector<int64_t>> by_col(n);
    for (int64_t k = 0; k < nnz; ++k) {
      const int32_t a = inv[p.cols[k]], b = inv[p.rows[k]];  // (A^{-1})[col, row]
      by_col[std::min(a, b)].push_back(k);
    }
    for (int32_t j = 0; j < n; ++j) {
      if (by_col[j].empty()) continue;
      for (int32_t q = Lp[j]; q < Lp[j + 1]; ++q) where[Li[q]] = q;
      for (int64_t k : by_col[j]) {
        const int32_t a = inv[p.cols[k]], b = inv[p.rows[k]];
        const int32_t r = std::max(a, b);
        const int32_t q = where[r];
        if (q < 0) return kFailed;  // cannot happen: the pattern of A is within the factor's
        o[k] = a >= b ? Z[q] : conj_of(Z[q]);
      }
      for (int32_t q = Lp[j]; q < Lp[j + 1]; ++q) where[Li[q]] = -1;
    }
    return kOk;
  };
  return is_complex ? run.template operator()<std::complex<double>>() : run.template operator()<double>();
}

}  // namespace nativax::cholmod
