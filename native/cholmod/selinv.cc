#include "cholmod/selinv.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <type_traits>

#include "common/status.h"

// The BLAS the CHOLMOD supernodal module already links (LP64 Fortran interface).
extern "C" {
void dtrsm_(const char*, const char*, const char*, const char*, const int*, const int*, const double*, const double*,
            const int*, double*, const int*);
void ztrsm_(const char*, const char*, const char*, const char*, const int*, const int*, const void*, const void*,
            const int*, void*, const int*);
void dsymm_(const char*, const char*, const int*, const int*, const double*, const double*, const int*, const double*,
            const int*, const double*, double*, const int*);
void zhemm_(const char*, const char*, const int*, const int*, const void*, const void*, const int*, const void*,
            const int*, const void*, void*, const int*);
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*, const int*,
            const double*, const int*, const double*, double*, const int*);
void zgemm_(const char*, const char*, const int*, const int*, const int*, const void*, const void*, const int*,
            const void*, const int*, const void*, void*, const int*);
void dpotri_(const char*, const int*, double*, const int*, int*);
void zpotri_(const char*, const int*, void*, const int*, int*);
}

namespace nativax::cholmod {
namespace {

using cplx = std::complex<double>;

// Thin typed BLAS wrappers: T is double or std::complex<double>; 'C' means conjugate transpose for both.
template <typename T>
void trsm(char side, char trans, int m, int n, const T* a, int lda, T* b, int ldb) {
  const char lo = 'L', nu = 'N';
  if constexpr (std::is_same_v<T, double>) {
    const double one = 1.0;
    const char t = trans == 'C' ? 'T' : trans;
    dtrsm_(&side, &lo, &t, &nu, &m, &n, &one, a, &lda, b, &ldb);
  } else {
    const cplx one(1.0, 0.0);
    ztrsm_(&side, &lo, &trans, &nu, &m, &n, &one, a, &lda, b, &ldb);
  }
}

// C = alpha * A * B with A Hermitian (lower triangle stored), m x m; B, C m x n.
template <typename T>
void hemm(int m, int n, double alpha, const T* a, int lda, const T* b, int ldb, T* c, int ldc) {
  const char side = 'L', lo = 'L';
  if constexpr (std::is_same_v<T, double>) {
    const double beta = 0.0;
    dsymm_(&side, &lo, &m, &n, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
  } else {
    const cplx al(alpha, 0.0), beta(0.0, 0.0);
    zhemm_(&side, &lo, &m, &n, &al, a, &lda, b, &ldb, &beta, c, &ldc);
  }
}

// C += alpha A^H B (A k x m, B k x n, C m x n).
template <typename T>
void gemm_hn(int m, int n, int k, double alpha, const T* a, int lda, const T* b, int ldb, T* c, int ldc) {
  const char nn = 'N';
  if constexpr (std::is_same_v<T, double>) {
    const char tr = 'T';
    const double beta = 1.0;
    dgemm_(&tr, &nn, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
  } else {
    const char tr = 'C';
    const cplx al(alpha, 0.0), beta(1.0, 0.0);
    zgemm_(&tr, &nn, &m, &n, &k, &al, a, &lda, b, &ldb, &beta, c, &ldc);
  }
}

// Lower triangle of (L L^H)^{-1} in place of the lower triangular L (LAPACK potri: trtri + lauum).
template <typename T>
bool potri(int n, T* a, int lda) {
  const char lo = 'L';
  int info = 0;
  if constexpr (std::is_same_v<T, double>) {
    dpotri_(&lo, &n, a, &lda, &info);
  } else {
    zpotri_(&lo, &n, a, &lda, &info);
  }
  return info == 0;
}

template <typename T>
T conj_of(const T& v) {
  if constexpr (std::is_floating_point_v<T>) {
    return v;
  } else {
    return std::conj(v);
  }
}

// A supernodal L L^H factor as arrays: supernode s has columns super[s] .. super[s+1]-1, row indices
// Ls[pi[s] .. pi[s+1]) (its own columns first, then the rest, ascending) and a column-major nsrow x nscol
// block of values at x + px[s].
struct Supernodes {
  int32_t n = 0, nsuper = 0;
  const int32_t *super = nullptr, *pi = nullptr, *px = nullptr, *Ls = nullptr;
  std::vector<int32_t> iota;  // super for one-column supernodes of a simplicial factor
};

Supernodes supernodes_of(const cholmod_factor* F) {
  Supernodes S;
  S.n = static_cast<int32_t>(F->n);
  if (F->is_super) {
    S.nsuper = static_cast<int32_t>(F->nsuper);
    S.super = static_cast<const int32_t*>(F->super);
    S.pi = static_cast<const int32_t*>(F->pi);
    S.px = static_cast<const int32_t*>(F->px);
    S.Ls = static_cast<const int32_t*>(F->s);
  } else {  // packed, monotonic simplicial L L^H: column j is a supernode of one column
    S.nsuper = S.n;
    S.iota.resize(S.n + 1);
    std::iota(S.iota.begin(), S.iota.end(), 0);
    S.super = S.iota.data();
    S.pi = S.px = static_cast<const int32_t*>(F->p);
    S.Ls = static_cast<const int32_t*>(F->i);
  }
  return S;
}

// Z = (P A P^T)^{-1} on the factor's pattern, in the factor's value layout (each supernode's diagonal block
// is stored in full). With L = [L11; L21] the columns of supernode s and R its off-diagonal rows:
//   Y = L21 L11^{-1},  Z_Rs = -Z_RR Y,  Z_ss = L11^{-H} L11^{-1} - Y^H Z_Rs,
// where Z_RR (rows and columns R) lies within supernodes after s, already computed (supernodes in reverse).
template <typename T>
bool takahashi_supernodal(const Supernodes& S, const T* Lx, std::unique_ptr<T[]>* Zv, size_t size) {
  // Every entry of every supernode's block is written below: no zero fill (one pass less over the factor).
  Zv->reset(new T[size]);
  T* Z = Zv->get();
  std::vector<int32_t> col2super(S.n), map(S.n, -1);
  for (int32_t s = 0; s < S.nsuper; ++s) {
    for (int32_t j = S.super[s]; j < S.super[s + 1]; ++j) col2super[j] = s;
  }
  for (int32_t s = 0; s < S.nsuper; ++s) {  // the recurrences need each supernode's rows ascending
    const int32_t* r = S.Ls + S.pi[s];
    if (!std::is_sorted(r, r + (S.pi[s + 1] - S.pi[s]))) return false;
  }
  std::vector<T> Y, ZRR;
  for (int32_t s = S.nsuper - 1; s >= 0; --s) {
    const int32_t nscol = S.super[s + 1] - S.super[s];
    const int32_t nsrow = S.pi[s + 1] - S.pi[s];
    const int32_t m = nsrow - nscol;
    const T* L = Lx + S.px[s];
    T* Zs = Z + S.px[s];
    const int32_t* R = S.Ls + S.pi[s] + nscol;
    if (m > 0) {
      Y.resize(static_cast<size_t>(m) * nscol);
      for (int32_t j = 0; j < nscol; ++j) std::memcpy(&Y[static_cast<size_t>(j) * m], L + j * nsrow + nscol, m * sizeof(T));
      trsm<T>('R', 'N', m, nscol, L, nsrow, Y.data(), m);
      // Gather the lower triangle of Z_RR, one ancestor supernode t at a time (R's rows of t are contiguous).
      ZRR.resize(static_cast<size_t>(m) * m);
      for (int32_t c = 0; c < m;) {
        const int32_t t = col2super[R[c]];
        const int32_t tr = S.pi[t + 1] - S.pi[t];
        const int32_t* rows_t = S.Ls + S.pi[t];
        for (int32_t q = 0; q < tr; ++q) map[rows_t[q]] = q;
        int32_t c_end = c;
        while (c_end < m && R[c_end] < S.super[t + 1]) ++c_end;
        for (int32_t cc = c; cc < c_end; ++cc) {
          const T* zcol = Z + S.px[t] + static_cast<size_t>(R[cc] - S.super[t]) * tr;
          T* dst = &ZRR[static_cast<size_t>(cc) * m];
          for (int32_t r = cc; r < m; ++r) {
            const int32_t q = map[R[r]];
            if (q < 0) return false;  // not on t's pattern: cannot happen for a valid supernodal factor
            dst[r] = zcol[q];
          }
        }
        for (int32_t q = 0; q < tr; ++q) map[rows_t[q]] = -1;
        c = c_end;
      }
      hemm<T>(m, nscol, -1.0, ZRR.data(), m, Y.data(), m, Zs + nscol, nsrow);
    }
    // Z_ss = L11^{-H} L11^{-1} (potri on a copy of L11) - Y^H Z_Rs, lower triangle only (the product is
    // Hermitian: column panels from the diagonal down), then mirrored.
    for (int32_t j = 0; j < nscol; ++j) {
      std::fill(Zs + j * nsrow, Zs + j * nsrow + j, T(0));
      std::memcpy(Zs + j * nsrow + j, L + j * nsrow + j, (nscol - j) * sizeof(T));
    }
    if (!potri<T>(nscol, Zs, nsrow)) return false;
    constexpr int32_t kPanel = 48;
    for (int32_t j0 = 0; m > 0 && j0 < nscol; j0 += kPanel) {
      const int32_t w = std::min(kPanel, nscol - j0);
      gemm_hn<T>(nscol - j0, w, m, -1.0, Y.data() + static_cast<size_t>(j0) * m, m, Zs + nscol + j0 * nsrow, nsrow,
                 Zs + j0 + j0 * nsrow, nsrow);
    }
    for (int32_t j = 0; j < nscol; ++j) {
      Zs[j + j * nsrow] = T(std::real(Zs[j + j * nsrow]));
      for (int32_t i = 0; i < j; ++i) Zs[i + j * nsrow] = conj_of(Zs[j + i * nsrow]);
    }
  }
  return true;
}

// Z(r, c) for r >= c (permuted indices): binary search of r in c's supernode.
template <typename T>
bool lookup(const Supernodes& S, const std::vector<int32_t>& col2super, const T* Z, int32_t r, int32_t c, T* v) {
  const int32_t t = col2super[c];
  const int32_t* b = S.Ls + S.pi[t];
  const int32_t* e = S.Ls + S.pi[t + 1];
  const int32_t* f = std::lower_bound(b, e, r);
  if (f == e || *f != r) return false;
  *v = Z[S.px[t] + (f - b) + static_cast<size_t>(c - S.super[t]) * (e - b)];
  return true;
}

template <typename T>
int32_t run(const cholmod_factor* F, const Pattern& p, Selection what, std::vector<double>* out) {
  const Supernodes S = supernodes_of(F);
  std::unique_ptr<T[]> Z;
  const size_t size = F->is_super ? F->xsize : static_cast<size_t>(static_cast<const int32_t*>(F->p)[S.n]);
  if (!takahashi_supernodal<T>(S, static_cast<const T*>(F->x), &Z, size)) return kFailed;
  std::vector<int32_t> col2super(S.n);
  for (int32_t s = 0; s < S.nsuper; ++s) {
    for (int32_t j = S.super[s]; j < S.super[s + 1]; ++j) col2super[j] = s;
  }
  const int32_t* perm = static_cast<const int32_t*>(F->Perm);
  std::vector<int32_t> inv(S.n);
  for (int32_t k = 0; k < S.n; ++k) inv[perm[k]] = k;
  constexpr int w = std::is_same_v<T, double> ? 1 : 2;
  if (what == Selection::kDiag) {
    out->assign(S.n, 0.0);
    for (int32_t a = 0; a < S.n; ++a) {
      T v;
      if (!lookup<T>(S, col2super, Z.get(), inv[a], inv[a], &v)) return kFailed;
      (*out)[a] = std::real(v);
    }
    return kOk;
  }
  const int64_t nnz = p.coo_nnz();
  out->assign(w * nnz, 0.0);
  T* o = reinterpret_cast<T*>(out->data());
  for (int64_t k = 0; k < nnz; ++k) {
    const int32_t i = inv[p.rows[k]], j = inv[p.cols[k]];
    T v;
    if (!lookup<T>(S, col2super, Z.get(), std::max(i, j), std::min(i, j), &v)) return kFailed;
    const bool lower = i >= j;  // v = Z(max, min); Z(i, j) = v if i >= j else conj(v)
    const bool want_conj = (what == Selection::kCooTransposed) == lower;
    o[k] = want_conj ? conj_of(v) : v;
  }
  return kOk;
}


struct FactorGuard {
  cholmod_factor* f = nullptr;
  cholmod_common* c;
  explicit FactorGuard(cholmod_common* cc) : c(cc) {}
  ~FactorGuard() {
    if (f) cholmod_free_factor(&f, c);
  }
};

}  // namespace

int32_t selected_inverse(Numeric& num, Selection what, std::vector<double>* out) {
  std::lock_guard<std::mutex> lock(num.mu);
  const cholmod_factor* F = num.L;
  Common c;
  FactorGuard copy(&c.c);
  if (!F->is_super) {  // a simplicial factor: a packed, monotonic L L^H copy, one column per supernode
    copy.f = cholmod_copy_factor(num.L, &c.c);
    if (!copy.f) return kFailed;
    if (!cholmod_change_factor(copy.f->xtype, /*to_ll=*/1, /*to_super=*/0, /*to_packed=*/1, /*to_monotonic=*/1,
                               copy.f, &c.c)) {
      return kFailed;
    }
    F = copy.f;
  }
  const Pattern& p = num.pattern();
  return num.is_complex ? run<cplx>(F, p, what, out) : run<double>(F, p, what, out);
}

namespace {

class PieceView final : public Factorization {
 public:
  PieceView(std::shared_ptr<Numeric> num, int32_t system) : num_(std::move(num)), system_(system) {}
  bool complex_values() const override { return num_->is_complex; }
  // A piece of the factor has no condition diagnostics of its own: NaN (the FFI handlers drop them).
  void diagnostics(double* info, bool /*condest*/) override {
    for (int f = 0; f < kInfoFields; ++f) info[f] = std::numeric_limits<double>::quiet_NaN();
  }

  int32_t solve_inplace(int /*mode*/, double* work, int64_t nrhs) override {
    if (nrhs == 0) return kOk;
    const int64_t n = num_->pattern().n;
    const int w = num_->is_complex ? 2 : 1;
    std::lock_guard<std::mutex> lock(num_->mu);
    const cholmod_factor* L = num_->L;
    Common c;
    cholmod_dense B;
    std::memset(&B, 0, sizeof(B));
    B.nrow = static_cast<size_t>(n);
    B.ncol = static_cast<size_t>(nrhs);
    B.nzmax = B.nrow * B.ncol;
    B.d = B.nrow;
    B.x = work;
    B.xtype = num_->is_complex ? CHOLMOD_COMPLEX : CHOLMOD_REAL;
    B.dtype = CHOLMOD_DOUBLE;
    int sys = system_;
    if (system_ == kSysSampleCov) {
      if (!L->is_ll) {  // simplicial L D L^H: z <- D^{-1/2} z
        const int32_t* Lp = static_cast<const int32_t*>(L->p);
        const double* x = static_cast<const double*>(L->x);
        for (int64_t j = 0; j < n; ++j) {
          const double d = x[w * Lp[j]];
          if (!(d > 0.0)) return kNotPositiveDefinite;
          const double s = 1.0 / std::sqrt(d);
          for (int64_t r = 0; r < nrhs; ++r) {
            for (int q = 0; q < w; ++q) work[w * (r * n + j) + q] *= s;
          }
        }
      }
      sys = CHOLMOD_Lt;
    }
    cholmod_dense* X = cholmod_solve(sys, const_cast<cholmod_factor*>(L), &B, &c.c);
    if (!X) return kFailed;
    if (system_ == kSysSampleCov) {
      cholmod_dense* Y = cholmod_solve(CHOLMOD_Pt, const_cast<cholmod_factor*>(L), X, &c.c);
      cholmod_free_dense(&X, &c.c);
      if (!Y) return kFailed;
      X = Y;
    }
    std::memcpy(work, X->x, sizeof(double) * w * n * nrhs);
    cholmod_free_dense(&X, &c.c);
    return kOk;
  }

 private:
  std::shared_ptr<Numeric> num_;
  int32_t system_;
};

// A new simplicial L D L^T factor (real) with the values of the supernodal L L^T factor `S`, read once (no copy
// of the supernodal factor, which is left untouched): D_jj = L_jj^2, unit-diagonal columns L_ij / L_jj.
cholmod_factor* simplicial_ldl_of(const cholmod_factor* S, cholmod_common* c) {
  const int32_t n = static_cast<int32_t>(S->n);
  cholmod_factor* F = cholmod_allocate_factor(S->n, c);
  if (!F) return nullptr;
  const Supernodes sn = supernodes_of(S);
  std::memcpy(F->Perm, S->Perm, sizeof(int32_t) * n);
  F->ordering = S->ordering;
  int32_t* cc = static_cast<int32_t*>(F->ColCount);
  for (int32_t s = 0; s < sn.nsuper; ++s) {
    const int32_t nsrow = sn.pi[s + 1] - sn.pi[s];
    for (int32_t jj = 0; jj < sn.super[s + 1] - sn.super[s]; ++jj) cc[sn.super[s] + jj] = nsrow - jj;
  }
  // Allocate the simplicial numeric factor (sized by ColCount, packed) and overwrite its identity values.
  if (!cholmod_change_factor(CHOLMOD_REAL, /*to_ll=*/0, /*to_super=*/0, /*to_packed=*/1, /*to_monotonic=*/1, F, c)) {
    cholmod_free_factor(&F, c);
    return nullptr;
  }
  const int32_t* Fp = static_cast<const int32_t*>(F->p);
  int32_t* Fi = static_cast<int32_t*>(F->i);
  int32_t* Fnz = static_cast<int32_t*>(F->nz);
  double* Fx = static_cast<double*>(F->x);
  const double* Sx = static_cast<const double*>(S->x);
  for (int32_t s = 0; s < sn.nsuper; ++s) {
    const int32_t nsrow = sn.pi[s + 1] - sn.pi[s];
    const int32_t* rows = sn.Ls + sn.pi[s];
    for (int32_t jj = 0; jj < sn.super[s + 1] - sn.super[s]; ++jj) {
      const int32_t j = sn.super[s] + jj, len = nsrow - jj;
      if (Fp[j + 1] - Fp[j] < len) {  // not the allocation this code expects: give up (the caller falls back)
        cholmod_free_factor(&F, c);
        return nullptr;
      }
      const double* col = Sx + sn.px[s] + static_cast<size_t>(jj) * nsrow + jj;
      const double ljj = col[0];
      std::memcpy(Fi + Fp[j], rows + jj, sizeof(int32_t) * len);
      Fx[Fp[j]] = ljj * ljj;
      for (int32_t q = 1; q < len; ++q) Fx[Fp[j] + q] = col[q] / ljj;
      Fnz[j] = len;
    }
  }
  return F;
}

}  // namespace

std::shared_ptr<Factorization> piece_view(std::shared_ptr<Numeric> num, int32_t system) {
  return std::make_shared<PieceView>(std::move(num), system);
}

int32_t update_downdate(Numeric& num, const double* C, int64_t k, bool downdate, std::shared_ptr<Numeric>* out,
                        std::string* err) {
  if (num.is_complex) {
    *err = "rank-k update/downdate needs a real factorization (CHOLMOD's update is real only)";
    return -1;
  }
  const int64_t n = num.pattern().n;
  Common c;
  auto fresh = std::make_shared<Numeric>();
  {
    std::lock_guard<std::mutex> lock(num.mu);
    fresh->L = num.L->is_super ? simplicial_ldl_of(num.L, &c.c) : nullptr;
    if (!fresh->L) fresh->L = cholmod_copy_factor(num.L, &c.c);  // simplicial (or the fast path declined)
  }
  if (!fresh->L) return kFailed;
  // CHOLMOD updates a simplicial L D L^T; room to grow columns (unpacked).
  if (!cholmod_change_factor(CHOLMOD_REAL, /*to_ll=*/0, /*to_super=*/0, /*to_packed=*/0, /*to_monotonic=*/1,
                             fresh->L, &c.c)) {
    return kFailed;
  }
  const int32_t* perm = static_cast<const int32_t*>(fresh->L->Perm);
  // C in the factor's ordering, as a sorted sparse matrix (exact zeros dropped).
  int64_t nz = 0;
  for (int64_t q = 0; q < n * k; ++q) nz += C[q] != 0.0;
  cholmod_sparse* Cs = cholmod_allocate_sparse(n, k, std::max<int64_t>(nz, 1), 1, 1, 0, CHOLMOD_REAL, &c.c);
  if (!Cs) return kFailed;
  struct SparseGuard {
    cholmod_sparse** s;
    cholmod_common* c;
    ~SparseGuard() { cholmod_free_sparse(s, c); }
  } sg{&Cs, &c.c};
  int32_t* Cp = static_cast<int32_t*>(Cs->p);
  int32_t* Ci = static_cast<int32_t*>(Cs->i);
  double* Cx = static_cast<double*>(Cs->x);
  int32_t q = 0;
  for (int64_t j = 0; j < k; ++j) {
    Cp[j] = q;
    for (int64_t r = 0; r < n; ++r) {  // permuted row r holds original row perm[r]
      const double v = C[j * n + perm[r]];
      if (v != 0.0) {
        Ci[q] = static_cast<int32_t>(r);
        Cx[q++] = v;
      }
    }
  }
  Cp[k] = q;
  const int ok = cholmod_updown(downdate ? 0 : 1, Cs, fresh->L, &c.c);
  if (c.c.status == CHOLMOD_NOT_POSDEF) return kNotPositiveDefinite;
  if (!ok || c.c.status < CHOLMOD_OK) return kFailed;
  const int32_t* Lp = static_cast<const int32_t*>(fresh->L->p);
  const double* Lx = static_cast<const double*>(fresh->L->x);
  for (int64_t j = 0; j < n; ++j) {
    const double d = Lx[Lp[j]];
    if (!(d > 0.0) || !std::isfinite(d)) return kNotPositiveDefinite;
  }
  fresh->symbolic = num.symbolic;
  fresh->is_complex = false;
  fresh->values = num.values;
  fresh->hash = num.hash;
  fresh->factor_nnz = num.factor_nnz;
  fresh->rcond = cholmod_rcond(fresh->L, &c.c);
  fresh->native_bytes = fresh->L->nzmax * (sizeof(double) + sizeof(int32_t)) + 4 * n * sizeof(int32_t);
  *out = std::move(fresh);
  return kOk;
}

}  // namespace nativax::cholmod
