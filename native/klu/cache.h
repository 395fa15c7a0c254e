// Content-addressed LRU caches for KLU: symbolic analyses keyed by the exact COO pattern, numeric
// factorizations keyed by (symbolic, dtype kind, exact CSC values). A solve inside jit finds or builds what
// it needs within one FFI call, so nothing allocated under jit outlives the cache's bounds, and the adjoint
// solve of jax.grad finds the forward factorization. Capacity 0 = isolated mode (build and free every call).
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "klu/factorization.h"

namespace nativax::klu {

struct CacheStats {
  int64_t entries = 0, bytes = 0, hits = 0, misses = 0, evictions = 0;
};

class Cache {
 public:
  Cache();
  void set_capacity(int64_t entries);
  int64_t capacity() const;
  void set_max_bytes(int64_t bytes);

  // Find or build (validate + analyze) the symbolic analysis of an n x n COO pattern.
  std::shared_ptr<Symbolic> symbolic(int64_t n, const int32_t* rows, const int32_t* cols, int64_t nnz,
                                     std::string* err);

  // Find or build the numeric factorization of `values` (CSC order) on `s`. On a miss with a full cache whose
  // least-recently-used entry has the same pattern and is idle, that entry is recycled with klu_refactor.
  int32_t numeric(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
                  std::shared_ptr<Numeric>* out);

  CacheStats symbolic_stats() const;
  CacheStats numeric_stats() const;
  int64_t factorizations() const;
  int64_t refactorizations() const;
  void clear();
  void reset_counters();

 private:
  template <typename E>
  void evict_locked(std::list<std::shared_ptr<E>>* lru, int64_t* evictions,
                    std::vector<std::shared_ptr<void>>* doomed);

  mutable std::mutex mu_;
  int64_t capacity_;
  int64_t max_bytes_;
  std::list<std::shared_ptr<Symbolic>> sym_;
  std::list<std::shared_ptr<Numeric>> num_;
  CacheStats sym_stats_, num_stats_;
  int64_t factorizations_ = 0, refactorizations_ = 0;
};

Cache& cache();

}  // namespace nativax::klu
