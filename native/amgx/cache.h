// LRU cache of AmgX systems (config + resources + matrix + vectors + solver), keyed by the exact CSR structure
// (row_ptr, col_ind; a 64-bit hash narrows the search, memcmp decides), n, the config string, the CUDA device
// and whether the system holds a transposed matrix (the adjoint). A hit with new values runs
// AMGX_matrix_replace_coefficients + AMGX_solver_resetup; a hit with the same values reuses the setup as is;
// a miss runs AMGX_matrix_upload_all + AMGX_solver_setup. Capacity from NATIVAX_AMGX_CACHE_SIZE (default 4);
// 0 = isolated mode (every call creates and destroys its system).
//
// Locking: callers hold library_mutex() (api.h) around acquire/load/solve and while dropping systems; the
// cache's own mutex guards only the LRU list and counters, so introspection never waits on a solve.
//
// STATUS: UNVERIFIED. Compiled; never run on a GPU by this project.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "amgx/resources.h"

namespace nativax::amgx {

struct Key {
  int32_t device = 0;
  bool transposed = false;
  int32_t n = 0;
  int32_t nnz = 0;
  std::string config;
  std::vector<int32_t> row_ptr;  // n + 1
  std::vector<int32_t> col_ind;  // nnz
  uint64_t hash = 0;

  void compute_hash();
  bool operator==(const Key& o) const;
};

struct SolveResult {
  int32_t status = 0;      // AMGX_SOLVE_STATUS
  int32_t iterations = 0;
};

class System {
 public:
  explicit System(Key key) : key_(std::move(key)) {}
  System(const System&) = delete;
  System& operator=(const System&) = delete;

  const Key& key() const { return key_; }
  // Create config, resources (on key().device), matrix, vectors and solver. Empty string on success.
  std::string create(const Api* a);
  // Make the solver ready for `values` (nnz, CSR order): upload_all + setup the first time; later
  // replace_coefficients + resetup when the values changed, nothing when they are the same.
  std::string load(const Api* a, const double* values, bool* resetup_done, bool* setup_done);
  // Solve with a zero initial guess; b and x are host arrays of n doubles.
  std::string solve(const Api* a, const double* b, double* x, SolveResult* out);
  int64_t bytes() const;

 private:
  Key key_;
  // Declaration order = creation order; destruction runs in reverse (see resources.h).
  Config config_;
  Resources resources_;
  Matrix matrix_;
  Vector rhs_;
  Vector sol_;
  Solver solver_;
  std::vector<double> values_;  // the values of the current setup
  bool ready_ = false;          // a setup (or resetup) of values_ succeeded
};

struct Stats {
  int64_t entries = 0, bytes = 0, hits = 0, misses = 0, evictions = 0, setups = 0, resetups = 0, capacity = 0;
};

class Cache {
 public:
  Cache();
  // Find (hit) or create (miss) the system for `key`. Caller holds library_mutex(). Evicted systems are
  // destroyed before returning (still under library_mutex, outside the cache mutex).
  std::shared_ptr<System> acquire(const Api* a, Key key, std::string* err);
  void count_load(bool setup, bool resetup);
  Stats stats() const;
  void set_capacity(int64_t entries);  // caller holds library_mutex()
  int64_t capacity() const;
  void clear();  // caller holds library_mutex()
  void reset_counters();

 private:
  mutable std::mutex mu_;
  int64_t capacity_;
  std::list<std::shared_ptr<System>> lru_;
  Stats stats_;
};

Cache& cache();

}  // namespace nativax::amgx
