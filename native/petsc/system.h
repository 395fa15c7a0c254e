// The cached PETSc objects of one (row-partitioned) sparsity pattern and options string: Mat (MPIAIJ from the
// local CSR rows with global column indices), KSP (+ its PC / factorization) and two work Vecs that borrow
// XLA's buffers. New values on a cached pattern cost MatUpdateMPIAIJWithArrays + a numeric re-setup (the
// symbolic analysis of MUMPS/SuperLU_DIST is reused); the same values cost nothing (the factorization or AMG
// hierarchy is reused, e.g. by the adjoint solve of jax.grad). Also the halo gathers (VecScatter) of
// `RowPartitionedOperator.mv`.
//
// Every create/destroy here is collective: the caches are only changed in the same order on every rank (the
// FFI handlers agree on hits and misses with one allreduce first), and entries are evicted by count alone.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include <petscksp.h>

namespace nativax::petsc {

struct SystemKey {
  int64_t m = 0, n_global = 0;
  std::string options;
  std::vector<PetscInt> row_ptr, col_ind;
  uint64_t hash = 0;
  bool operator==(const SystemKey& o) const {
    return hash == o.hash && m == o.m && n_global == o.n_global && options == o.options && row_ptr == o.row_ptr &&
           col_ind == o.col_ind;
  }
};

struct System {
  SystemKey key;
  // Each system lives on its own duplicate of PETSC_COMM_WORLD: PETSc 3.18 keeps SuperLU_DIST's process grid
  // on the communicator, and with every system on one communicator a later SuperLU_DIST factorization met a
  // freed grid (segfault in pdgsequ's MPI_Allgather) once earlier systems had been destroyed.
  MPI_Comm comm = MPI_COMM_NULL;
  Mat A = nullptr;
  KSP ksp = nullptr;
  Vec b = nullptr, x = nullptr;
  // Only where PETSc's own transpose solve is wrong (hypre; see system.cc): A^T built
  // explicitly (MatTranspose, refreshed when the values change) with its own KSP, for the adjoint.
  Mat At = nullptr;
  KSP kspT = nullptr;
  bool at_current = false;
  std::vector<double> values;  // the values A holds now
  std::vector<std::string> option_names;
  System() = default;
  System(const System&) = delete;
  System& operator=(const System&) = delete;
  ~System();
  // Build everything from `values` (collective). Returns a PETSc error code.
  PetscErrorCode create(SystemKey k, const double* values0);
  // Load new values (collective; the pattern is unchanged).
  PetscErrorCode update(const double* v);
  // op(A) x = b: KSPSolve, KSPSolveTranspose on the same factorization/preconditioner, or (hypre) a solve with
  // the explicit, cached A^T and its own preconditioner. `*used` is the KSP that solved.
  PetscErrorCode solve(bool transposed, KSP* used);
  std::string prefix;
};

struct ScatterKey {
  int64_t m = 0, n_global = 0;
  std::vector<PetscInt> cols;
  uint64_t hash = 0;
  bool operator==(const ScatterKey& o) const {
    return hash == o.hash && m == o.m && n_global == o.n_global && cols == o.cols;
  }
};

// x (row-partitioned, m local entries) -> x[cols] (nnz local entries), any global column.
struct Scatter {
  ScatterKey key;
  Vec from = nullptr, to = nullptr;
  IS is = nullptr;
  VecScatter sc = nullptr;
  Scatter() = default;
  Scatter(const Scatter&) = delete;
  Scatter& operator=(const Scatter&) = delete;
  ~Scatter();
  PetscErrorCode create(ScatterKey k);
};

struct CacheStats {
  int64_t entries = 0, capacity = 0, hits = 0, misses = 0, evictions = 0;
  int64_t setups = 0;           // systems built (symbolic analysis + first numeric setup)
  int64_t numeric_updates = 0;  // new values on a cached system (numeric factorization / AMG re-setup)
  int64_t reuses = 0;           // solves on values already loaded (the factorization/preconditioner reused)
  int64_t solves = 0, transpose_solves = 0, gathers = 0;
};

// LRU caches (by count) of systems and scatters. Caller holds library_mutex().
class Cache {
 public:
  Cache();
  std::shared_ptr<System> find_system(const SystemKey& k);
  void put_system(std::shared_ptr<System> s);
  void drop_system(const SystemKey& k);
  std::shared_ptr<Scatter> find_scatter(const ScatterKey& k);
  void put_scatter(std::shared_ptr<Scatter> s);
  void clear();
  void set_capacity(int64_t n);
  CacheStats& stats() { return stats_; }
  void reset_counters();

 private:
  void evict();
  std::list<std::shared_ptr<System>> systems_;
  std::list<std::shared_ptr<Scatter>> scatters_;
  int64_t capacity_;
  CacheStats stats_;
};

Cache& cache();

}  // namespace nativax::petsc
