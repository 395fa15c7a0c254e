#include "petsc/system.h"

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/env.h"

namespace nativax::petsc {

namespace {

std::atomic<int64_t> g_next_id{0};

// "-ksp_type cg -ksp_rtol 1e-8" -> "-nvx3_ksp_type cg -nvx3_ksp_rtol 1e-8": every option of one system lives
// under its own prefix in PETSc's global options database, so systems with different options never mix.
std::string prefixed(const std::string& options, const std::string& prefix, std::vector<std::string>* names) {
  std::istringstream in(options);
  std::string tok, out;
  while (in >> tok) {
    if (tok.size() > 1 && tok[0] == '-' && std::isalpha(static_cast<unsigned char>(tok[1]))) {
      tok = "-" + prefix + tok.substr(1);
      names->push_back(tok);
    }
    out += tok;
    out += ' ';
  }
  return out;
}

}  // namespace

System::~System() {
  if (b) VecDestroy(&b);
  if (x) VecDestroy(&x);
  if (kspT) KSPDestroy(&kspT);
  if (At) MatDestroy(&At);
  if (ksp) KSPDestroy(&ksp);
  if (A) MatDestroy(&A);
  for (const auto& n : option_names) PetscOptionsClearValue(nullptr, n.c_str());
  if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
}

PetscErrorCode System::create(SystemKey k, const double* values0) {
  key = std::move(k);
  const PetscInt m = static_cast<PetscInt>(key.m), M = static_cast<PetscInt>(key.n_global);
  prefix = "nvx" + std::to_string(g_next_id++) + "_";
  PetscErrorCode ierr;
  if (MPI_Comm_dup(PETSC_COMM_WORLD, &comm) != MPI_SUCCESS) return PETSC_ERR_MPI;
  ierr = PetscOptionsInsertString(nullptr, prefixed(key.options, prefix, &option_names).c_str());
  if (ierr) return ierr;
  ierr = MatCreateMPIAIJWithArrays(comm, m, m, M, M, key.row_ptr.data(), key.col_ind.data(), values0, &A);
  if (ierr) return ierr;
  values.assign(values0, values0 + key.col_ind.size());
  ierr = MatSetOptionsPrefix(A, prefix.c_str());
  if (ierr) return ierr;
  ierr = KSPCreate(comm, &ksp);
  if (ierr) return ierr;
  ierr = KSPSetOptionsPrefix(ksp, prefix.c_str());
  if (ierr) return ierr;
  ierr = KSPSetOperators(ksp, A, A);
  if (ierr) return ierr;
  ierr = KSPSetFromOptions(ksp);
  if (ierr) return ierr;
  ierr = VecCreateMPIWithArray(comm, 1, m, M, nullptr, &b);
  if (ierr) return ierr;
  return VecCreateMPIWithArray(comm, 1, m, M, nullptr, &x);
}

PetscErrorCode System::update(const double* v) {
  const PetscInt m = static_cast<PetscInt>(key.m), M = static_cast<PetscInt>(key.n_global);
  PetscErrorCode ierr = MatUpdateMPIAIJWithArrays(A, m, m, M, M, key.row_ptr.data(), key.col_ind.data(), v);
  if (ierr) return ierr;
  values.assign(v, v + key.col_ind.size());
  at_current = false;
  return KSPSetOperators(ksp, A, A);
}

namespace {

// Whether ksp's PC has a transpose application that PETSc 3.18 gets wrong while reporting success (checked
// here): hypre (BoomerAMG's transpose cycle gave x = 0). (SuperLU_DIST's transpose solve solves with A instead;
// an explicit A^T factored by SuperLU_DIST corrupted the heap, so the Python side refuses that adjoint.)
bool needs_explicit_transpose(KSP ksp) {
  PC pc;
  PCType type = nullptr;
  if (KSPGetPC(ksp, &pc) || PCGetType(pc, &type) || type == nullptr) return false;
  return std::strcmp(type, PCHYPRE) == 0;
}

}  // namespace

PetscErrorCode System::solve(bool transposed, KSP* used) {
  *used = ksp;
  if (!transposed) return KSPSolve(ksp, b, x);
  if (!needs_explicit_transpose(ksp)) return KSPSolveTranspose(ksp, b, x);
  PetscErrorCode ierr;
  if (At == nullptr) {
    ierr = MatTranspose(A, MAT_INITIAL_MATRIX, &At);
    if (ierr) return ierr;
    const std::string prefix_t = prefix + "t_";
    ierr = PetscOptionsInsertString(nullptr, prefixed(key.options, prefix_t, &option_names).c_str());
    if (!ierr) ierr = KSPCreate(comm, &kspT);
    if (!ierr) ierr = KSPSetOptionsPrefix(kspT, prefix_t.c_str());
    if (!ierr) ierr = KSPSetOperators(kspT, At, At);
    if (!ierr) ierr = KSPSetFromOptions(kspT);
    if (ierr) return ierr;
    at_current = true;
  } else if (!at_current) {
    ierr = MatTranspose(A, MAT_REUSE_MATRIX, &At);
    if (!ierr) ierr = KSPSetOperators(kspT, At, At);
    if (ierr) return ierr;
    at_current = true;
  }
  *used = kspT;
  return KSPSolve(kspT, b, x);
}

Scatter::~Scatter() {
  if (sc) VecScatterDestroy(&sc);
  if (is) ISDestroy(&is);
  if (from) VecDestroy(&from);
  if (to) VecDestroy(&to);
}

PetscErrorCode Scatter::create(ScatterKey k) {
  key = std::move(k);
  const PetscInt m = static_cast<PetscInt>(key.m), M = static_cast<PetscInt>(key.n_global);
  const PetscInt nnz = static_cast<PetscInt>(key.cols.size());
  PetscErrorCode ierr = VecCreateMPIWithArray(PETSC_COMM_WORLD, 1, m, M, nullptr, &from);
  if (ierr) return ierr;
  ierr = VecCreateSeqWithArray(PETSC_COMM_SELF, 1, nnz, nullptr, &to);
  if (ierr) return ierr;
  ierr = ISCreateGeneral(PETSC_COMM_SELF, nnz, key.cols.data(), PETSC_USE_POINTER, &is);
  if (ierr) return ierr;
  return VecScatterCreate(from, is, to, nullptr, &sc);
}

Cache::Cache() : capacity_(env_int("NATIVAX_PETSC_CACHE_SIZE", 4)) {}

std::shared_ptr<System> Cache::find_system(const SystemKey& k) {
  for (auto it = systems_.begin(); it != systems_.end(); ++it) {
    if ((*it)->key == k) {
      auto s = *it;
      systems_.splice(systems_.begin(), systems_, it);
      return s;
    }
  }
  return nullptr;
}

void Cache::put_system(std::shared_ptr<System> s) {
  systems_.push_front(std::move(s));
  evict();
}

void Cache::drop_system(const SystemKey& k) {
  systems_.remove_if([&](const std::shared_ptr<System>& s) { return s->key == k; });
}

std::shared_ptr<Scatter> Cache::find_scatter(const ScatterKey& k) {
  for (auto it = scatters_.begin(); it != scatters_.end(); ++it) {
    if ((*it)->key == k) {
      auto s = *it;
      scatters_.splice(scatters_.begin(), scatters_, it);
      return s;
    }
  }
  return nullptr;
}

void Cache::put_scatter(std::shared_ptr<Scatter> s) {
  scatters_.push_front(std::move(s));
  evict();
}

void Cache::evict() {
  const size_t cap = static_cast<size_t>(capacity_ < 1 ? 1 : capacity_);
  while (systems_.size() > cap) {
    systems_.pop_back();
    ++stats_.evictions;
  }
  while (scatters_.size() > cap) {
    scatters_.pop_back();
    ++stats_.evictions;
  }
}

void Cache::clear() {
  systems_.clear();
  scatters_.clear();
}

void Cache::set_capacity(int64_t n) {
  capacity_ = n < 1 ? 1 : n;
  evict();
}

void Cache::reset_counters() { stats_ = CacheStats{}; }

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed at exit: finalize() empties it while PETSc is alive
  return *c;
}

}  // namespace nativax::petsc
