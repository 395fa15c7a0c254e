// The floor for benchmarks/direct_bench.py: SuiteSparse CHOLMOD called directly from C++ on the same matrix
// (both triangles stored; CHOLMOD reads the lower one, as nativax does).
// Input file (written by direct_bench.py): int64 n, int64 nnz, int32 Ap[n+1], int32 Ai[nnz], double Ax[nnz],
// double b[n]. Prints median milliseconds of analyze, factor, refactor, solve, analyze+factor+solve, and factor bytes.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cholmod.h>

namespace {

double now_ms() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: cholmod_direct_bench MATRIX_FILE [REPEATS]\n");
    return 2;
  }
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  FILE* f = std::fopen(argv[1], "rb");
  if (!f) {
    std::perror("open");
    return 2;
  }
  int64_t n = 0, nnz = 0;
  bool ok = std::fread(&n, 8, 1, f) == 1 && std::fread(&nnz, 8, 1, f) == 1;
  std::vector<int> Ap(n + 1), Ai(nnz);
  std::vector<double> Ax(nnz), b(n);
  ok = ok && std::fread(Ap.data(), 4, n + 1, f) == static_cast<size_t>(n + 1) &&
       std::fread(Ai.data(), 4, nnz, f) == static_cast<size_t>(nnz) &&
       std::fread(Ax.data(), 8, nnz, f) == static_cast<size_t>(nnz) &&
       std::fread(b.data(), 8, n, f) == static_cast<size_t>(n);
  std::fclose(f);
  if (!ok) {
    std::fprintf(stderr, "short read\n");
    return 2;
  }
  cholmod_common c;
  cholmod_start(&c);
  cholmod_sparse A{};
  A.nrow = A.ncol = n;
  A.nzmax = nnz;
  A.p = Ap.data();
  A.i = Ai.data();
  A.x = Ax.data();
  A.stype = -1;
  A.itype = CHOLMOD_INT;
  A.xtype = CHOLMOD_REAL;
  A.dtype = CHOLMOD_DOUBLE;
  A.sorted = 1;
  A.packed = 1;
  cholmod_dense B{};
  B.nrow = n;
  B.ncol = 1;
  B.nzmax = n;
  B.d = n;
  B.x = b.data();
  B.xtype = CHOLMOD_REAL;
  B.dtype = CHOLMOD_DOUBLE;
  std::vector<double> t_an, t_fa, t_re, t_so, t_total;
  double bytes = 0;
  for (int r = 0; r < reps; ++r) {
    double t0 = now_ms();
    cholmod_factor* L = cholmod_analyze(&A, &c);
    double t1 = now_ms();
    cholmod_factorize(&A, L, &c);
    double t2 = now_ms();
    if (c.status != CHOLMOD_OK) {
      std::fprintf(stderr, "factor failed: %d\n", c.status);
      return 1;
    }
    cholmod_dense* X = cholmod_solve(CHOLMOD_A, L, &B, &c);
    double t3 = now_ms();
    cholmod_factorize(&A, L, &c);
    double t4 = now_ms();
    bytes = L->is_super ? L->xsize * 8.0 : L->nzmax * 12.0;
    t_an.push_back(t1 - t0);
    t_fa.push_back(t2 - t1);
    t_so.push_back(t3 - t2);
    t_re.push_back(t4 - t3);
    t_total.push_back(t3 - t0);
    cholmod_free_dense(&X, &c);
    cholmod_free_factor(&L, &c);
  }
  cholmod_finish(&c);
  std::printf("analyze_ms %.4f\nfactor_ms %.4f\nsolve_ms %.4f\nrefactor_ms %.4f\ntotal_ms %.4f\nfactor_bytes %.0f\n",
              median(t_an), median(t_fa), median(t_so), median(t_re), median(t_total), bytes);
  return 0;
}
