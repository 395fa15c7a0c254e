// The floor for benchmarks/petsc_bench.py: the same PETSc configuration called directly from C++ (1 rank).
// Input file (written by petsc_bench.py): int64 n, int64 nnz, int32 row_ptr[n+1], int32 col_ind[nnz] (CSR,
// columns sorted in each row), double values[nnz], double b[n]. Arguments: MATRIX_FILE REPEATS OPTIONS...
// (PETSc options, e.g. -ksp_type preonly -pc_type cholesky -pc_factor_mat_solver_type mumps).
// Prints median milliseconds of: first (Mat + KSP from scratch, setup, solve), update (new values on the same
// Mat: MatUpdateMPIAIJWithArrays + numeric setup + solve), solve (same values: the factorization/preconditioner
// reused), transpose (KSPSolveTranspose, reused), and the relative residual of the last solve.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <petscksp.h>

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
  if (argc < 3) {
    std::fprintf(stderr, "usage: petsc_direct_bench MATRIX_FILE REPEATS [PETSc options...]\n");
    return 2;
  }
  const int reps = std::max(1, std::atoi(argv[2]));
  FILE* f = std::fopen(argv[1], "rb");
  if (!f) {
    std::perror("open");
    return 2;
  }
  int64_t n = 0, nnz = 0;
  bool ok = std::fread(&n, 8, 1, f) == 1 && std::fread(&nnz, 8, 1, f) == 1;
  std::vector<int32_t> rp(n + 1), ci(nnz);
  std::vector<double> a(nnz), b(n), a2(nnz);
  ok = ok && std::fread(rp.data(), 4, n + 1, f) == static_cast<size_t>(n + 1) &&
       std::fread(ci.data(), 4, nnz, f) == static_cast<size_t>(nnz) &&
       std::fread(a.data(), 8, nnz, f) == static_cast<size_t>(nnz) && std::fread(b.data(), 8, n, f) == static_cast<size_t>(n);
  std::fclose(f);
  if (!ok) {
    std::fprintf(stderr, "petsc_direct_bench: short read\n");
    return 2;
  }
  for (int64_t k = 0; k < nnz; ++k) a2[k] = 1.5 * a[k];
  // argv[3:] are PETSc options: hand PETSc a view without the file name and repeats.
  int pargc = argc - 2;
  std::vector<char*> pargv_store(argv + 2, argv + argc);
  pargv_store[0] = argv[0];
  pargv_store.push_back(nullptr);
  char** pargv = pargv_store.data();
  if (PetscInitialize(&pargc, &pargv, nullptr, nullptr)) return 1;
  const PetscInt N = static_cast<PetscInt>(n);
  std::vector<double> x_host(n);
  std::vector<double> first, update, solve, transpose;
  double resid = 0;
  for (int r = 0; r < reps; ++r) {
    Mat A;
    KSP ksp;
    Vec vb, vx, vr;
    double t0 = now_ms();
    PetscCall(MatCreateMPIAIJWithArrays(PETSC_COMM_WORLD, N, N, N, N, rp.data(), ci.data(), a.data(), &A));
    PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
    PetscCall(KSPSetOperators(ksp, A, A));
    PetscCall(KSPSetFromOptions(ksp));
    PetscCall(VecCreateMPIWithArray(PETSC_COMM_WORLD, 1, N, N, b.data(), &vb));
    PetscCall(VecCreateMPIWithArray(PETSC_COMM_WORLD, 1, N, N, x_host.data(), &vx));
    PetscCall(KSPSolve(ksp, vb, vx));
    double t1 = now_ms();
    PetscCall(MatUpdateMPIAIJWithArrays(A, N, N, N, N, rp.data(), ci.data(), a2.data()));
    PetscCall(KSPSetOperators(ksp, A, A));
    PetscCall(KSPSolve(ksp, vb, vx));
    double t2 = now_ms();
    PetscCall(KSPSolve(ksp, vb, vx));
    double t3 = now_ms();
    PetscCall(KSPSolveTranspose(ksp, vb, vx));
    double t4 = now_ms();
    first.push_back(t1 - t0);
    update.push_back(t2 - t1);
    solve.push_back(t3 - t2);
    transpose.push_back(t4 - t3);
    PetscCall(VecDuplicate(vb, &vr));
    PetscCall(MatMult(A, vx, vr));
    PetscCall(VecAXPY(vr, -1.0, vb));
    PetscReal rn, bn;
    PetscCall(VecNorm(vr, NORM_2, &rn));
    PetscCall(VecNorm(vb, NORM_2, &bn));
    resid = rn / bn;
    PetscCall(VecDestroy(&vr));
    PetscCall(VecDestroy(&vb));
    PetscCall(VecDestroy(&vx));
    PetscCall(KSPDestroy(&ksp));
    PetscCall(MatDestroy(&A));
  }
  std::printf("first_ms %.3f\nupdate_ms %.3f\nsolve_ms %.3f\ntranspose_ms %.3f\nresidual %.3e\n", median(first),
              median(update), median(solve), median(transpose), resid);
  PetscCall(PetscFinalize());
  return 0;
}
