// The floor for benchmarks/klu_bench.py: SuiteSparse KLU called directly from C++ on the same matrix.
// Input file (written by klu_bench.py): int64 n, int64 nnz, int32 Ap[n+1], int32 Ai[nnz], double Ax[nnz],
// double b[n]. Prints median milliseconds of analyze, factor, refactor, solve and analyze+factor+solve.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <klu.h>

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
    std::fprintf(stderr, "usage: klu_direct_bench MATRIX_FILE [REPEATS]\n");
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
  klu_common c;
  klu_defaults(&c);
  std::vector<double> t_an, t_fa, t_re, t_so, t_total;
  for (int r = 0; r < reps; ++r) {
    std::vector<double> x = b;
    double t0 = now_ms();
    klu_symbolic* s = klu_analyze(static_cast<int>(n), Ap.data(), Ai.data(), &c);
    double t1 = now_ms();
    klu_numeric* num = klu_factor(Ap.data(), Ai.data(), Ax.data(), s, &c);
    double t2 = now_ms();
    if (!num) {
      std::fprintf(stderr, "factor failed: %d\n", c.status);
      return 1;
    }
    klu_solve(s, num, static_cast<int>(n), 1, x.data(), &c);
    double t3 = now_ms();
    klu_refactor(Ap.data(), Ai.data(), Ax.data(), s, num, &c);
    double t4 = now_ms();
    t_an.push_back(t1 - t0);
    t_fa.push_back(t2 - t1);
    t_so.push_back(t3 - t2);
    t_re.push_back(t4 - t3);
    t_total.push_back(t3 - t0);
    klu_free_numeric(&num, &c);
    klu_free_symbolic(&s, &c);
  }
  std::printf("analyze_ms %.4f\nfactor_ms %.4f\nsolve_ms %.4f\nrefactor_ms %.4f\ntotal_ms %.4f\n", median(t_an),
              median(t_fa), median(t_so), median(t_re), median(t_total));
  return 0;
}
