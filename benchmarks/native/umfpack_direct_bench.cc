// The floor for benchmarks/direct_bench.py: SuiteSparse UMFPACK called directly from C++ on the same matrix,
// with nativax's Control (defaults, iterative refinement off, CHOLMOD ordering rule: AMD, then METIS if fill
// is high; the symmetric strategy for a symmetric-enough pattern with a full diagonal).
// Input file (written by direct_bench.py): int64 n, int64 nnz, int32 Ap[n+1], int32 Ai[nnz], double Ax[nnz],
// double b[n]. Prints median milliseconds of analyze, factor, refactor (numeric again), solve, analyze+factor+solve, and
// factor bytes.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <umfpack.h>

namespace {

double now_ms() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// nativax's strategy rule (native/umfpack/engine.cc): symmetric when the diagonal is full and at least half
// the off-diagonal pattern is mirrored. Rows are sorted within columns.
bool symmetric_strategy(int64_t n, const std::vector<int>& Ap, const std::vector<int>& Ai) {
  int64_t offdiag = 0, mirrored = 0, diag = 0;
  for (int64_t j = 0; j < n; ++j) {
    for (int k = Ap[j]; k < Ap[j + 1]; ++k) {
      const int i = Ai[k];
      if (i == j) {
        ++diag;
        continue;
      }
      ++offdiag;
      if (std::binary_search(Ai.begin() + Ap[i], Ai.begin() + Ap[i + 1], static_cast<int>(j))) ++mirrored;
    }
  }
  return diag == n && 2 * mirrored >= offdiag;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: umfpack_direct_bench MATRIX_FILE [REPEATS]\n");
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
  double ctl[UMFPACK_CONTROL], info[UMFPACK_INFO];
  umfpack_di_defaults(ctl);
  ctl[UMFPACK_IRSTEP] = 0;
  ctl[UMFPACK_ORDERING] = UMFPACK_ORDERING_CHOLMOD;
  if (symmetric_strategy(n, Ap, Ai)) ctl[UMFPACK_STRATEGY] = UMFPACK_STRATEGY_SYMMETRIC;
  const int ni = static_cast<int>(n);
  std::vector<double> t_an, t_fa, t_re, t_so, t_total;
  double bytes = 0;
  std::vector<double> x(n);
  for (int r = 0; r < reps; ++r) {
    void *sym = nullptr, *num = nullptr;
    double t0 = now_ms();
    umfpack_di_symbolic(ni, ni, Ap.data(), Ai.data(), nullptr, &sym, ctl, info);
    double t1 = now_ms();
    int st = umfpack_di_numeric(Ap.data(), Ai.data(), Ax.data(), sym, &num, ctl, info);
    double t2 = now_ms();
    if (st != UMFPACK_OK) {
      std::fprintf(stderr, "factor failed: %d\n", st);
      return 1;
    }
    bytes = info[UMFPACK_NUMERIC_SIZE] * info[UMFPACK_SIZE_OF_UNIT];
    umfpack_di_solve(UMFPACK_A, Ap.data(), Ai.data(), Ax.data(), x.data(), b.data(), num, ctl, info);
    double t3 = now_ms();
    void* num2 = nullptr;
    umfpack_di_numeric(Ap.data(), Ai.data(), Ax.data(), sym, &num2, ctl, info);
    double t4 = now_ms();
    t_an.push_back(t1 - t0);
    t_fa.push_back(t2 - t1);
    t_so.push_back(t3 - t2);
    t_re.push_back(t4 - t3);
    t_total.push_back(t3 - t0);
    umfpack_di_free_numeric(&num2);
    umfpack_di_free_numeric(&num);
    umfpack_di_free_symbolic(&sym);
  }
  std::printf("analyze_ms %.4f\nfactor_ms %.4f\nsolve_ms %.4f\nrefactor_ms %.4f\ntotal_ms %.4f\nfactor_bytes %.0f\n",
              median(t_an), median(t_fa), median(t_so), median(t_re), median(t_total), bytes);
  return 0;
}
