// Content-addressed LRU caches of one direct engine: symbolic analyses keyed by the exact COO pattern, numeric
// factorizations keyed by (symbolic, value kind, exact CSC values). A solve inside jit finds or builds what it
// needs within one FFI call, so nothing allocated under jit outlives the cache's bounds, and the adjoint solve
// of jax.grad finds the forward factorization. Capacity 0 = isolated mode (build and free every call).
//
// `E` is an engine (see common/engine.h): E::Symbolic, E::Numeric, E::analyze, E::factor, E::refactor.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/pattern.h"
#include "common/status.h"

namespace nativax {

struct LruStats {
  int64_t entries = 0, bytes = 0, hits = 0, misses = 0, evictions = 0;
};

template <typename E>
class LruCache {
 public:
  using Symbolic = typename E::Symbolic;
  using Numeric = typename E::Numeric;

  LruCache()
      : capacity_(env_int("NATIVAX_CACHE_SIZE", 8)), max_bytes_(env_int("NATIVAX_CACHE_BYTES", int64_t{1} << 30)) {}

  void set_capacity(int64_t entries) {
    std::vector<std::shared_ptr<void>> doomed;
    std::lock_guard<std::mutex> lock(mu_);
    capacity_ = entries < 0 ? 0 : entries;
    evict_locked(&sym_, &sym_stats_.evictions, &doomed);
    evict_locked(&num_, &num_stats_.evictions, &doomed);
  }
  int64_t capacity() const {
    std::lock_guard<std::mutex> lock(mu_);
    return capacity_;
  }
  void set_max_bytes(int64_t bytes) {
    std::vector<std::shared_ptr<void>> doomed;
    std::lock_guard<std::mutex> lock(mu_);
    max_bytes_ = bytes < 0 ? 0 : bytes;
    evict_locked(&num_, &num_stats_.evictions, &doomed);
  }

  // Find or build (validate + analyze) the symbolic analysis of an n x n COO pattern.
  std::shared_ptr<Symbolic> symbolic(int64_t n, const int32_t* rows, const int32_t* cols, int64_t nnz,
                                     std::string* err) {
    const uint64_t h = pattern_hash(n, rows, cols, nnz);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = sym_.begin(); it != sym_.end(); ++it) {
        if ((*it)->pattern->matches(n, rows, cols, nnz, h)) {
          sym_.splice(sym_.begin(), sym_, it);
          sym_stats_.hits += 1;
          return sym_.front();
        }
      }
      sym_stats_.misses += 1;
    }
    auto pattern = build_pattern(n, rows, cols, nnz, h, err);
    if (!pattern) return nullptr;
    auto s = E::analyze(std::move(pattern), err);
    if (!s) return nullptr;
    std::vector<std::shared_ptr<void>> doomed;
    std::lock_guard<std::mutex> lock(mu_);
    if (capacity_ == 0) return s;
    for (auto it = sym_.begin(); it != sym_.end(); ++it) {
      if ((*it)->pattern->matches(n, rows, cols, nnz, h)) return *it;  // another thread won the race
    }
    sym_.push_front(s);
    evict_locked(&sym_, &sym_stats_.evictions, &doomed);
    return s;
  }

  // Find or build the numeric factorization of `values` (CSC order) on `s`. On a miss with a full cache whose
  // least-recently-used entry has the same analysis and is idle, that entry is refactored in place.
  int32_t numeric(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
                  std::shared_ptr<Numeric>* out) {
    std::shared_ptr<Numeric> recycled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = num_.begin(); it != num_.end(); ++it) {
        if ((*it)->matches(s.get(), cplx, values, hash)) {
          num_.splice(num_.begin(), num_, it);
          num_stats_.hits += 1;
          *out = num_.front();
          return kOk;
        }
      }
      num_stats_.misses += 1;
      if (capacity_ > 0 && static_cast<int64_t>(num_.size()) >= capacity_) {
        auto& victim = num_.back();
        if (victim->symbolic == s && victim->is_complex == cplx && victim.use_count() == 1) {
          recycled = std::move(victim);
          num_.pop_back();
          num_stats_.evictions += 1;
        }
      }
    }
    std::shared_ptr<Numeric> fresh;
    int32_t st;
    bool used_refactor = false;
    if (recycled) {
      const int64_t before = recycled->refactors;
      st = E::refactor(recycled.get(), std::move(values), hash);
      used_refactor = recycled->refactors > before;
      fresh = std::move(recycled);
    } else {
      st = E::factor(s, cplx, std::move(values), hash, &fresh);
    }
    std::vector<std::shared_ptr<void>> doomed;
    std::lock_guard<std::mutex> lock(mu_);
    if (st != kOk) return st;
    (used_refactor ? refactorizations_ : factorizations_) += 1;
    *out = fresh;
    if (capacity_ == 0) return kOk;
    for (auto it = num_.begin(); it != num_.end(); ++it) {
      if ((*it)->matches(s.get(), cplx, fresh->values, hash)) {
        *out = *it;  // another thread won the race; ours is dropped
        return kOk;
      }
    }
    num_.push_front(fresh);
    evict_locked(&num_, &num_stats_.evictions, &doomed);
    return kOk;
  }

  LruStats symbolic_stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return with_contents(sym_stats_, sym_);
  }
  LruStats numeric_stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return with_contents(num_stats_, num_);
  }
  int64_t factorizations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return factorizations_;
  }
  int64_t refactorizations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return refactorizations_;
  }
  void clear() {
    std::list<std::shared_ptr<Symbolic>> s;
    std::list<std::shared_ptr<Numeric>> n;
    std::lock_guard<std::mutex> lock(mu_);
    s.swap(sym_);
    n.swap(num_);
  }
  void reset_counters() {
    std::lock_guard<std::mutex> lock(mu_);
    sym_stats_ = LruStats{};
    num_stats_ = LruStats{};
    factorizations_ = refactorizations_ = 0;
  }

  // The engine's process-wide cache (never destroyed: solves may run during interpreter shutdown).
  static LruCache& instance() {
    static LruCache* c = new LruCache();
    return *c;
  }

 private:
  template <typename X>
  static int64_t total_bytes(const std::list<std::shared_ptr<X>>& lru) {
    int64_t b = 0;
    for (const auto& e : lru) b += static_cast<int64_t>(e->bytes());
    return b;
  }
  template <typename X>
  static LruStats with_contents(LruStats st, const std::list<std::shared_ptr<X>>& lru) {
    st.entries = static_cast<int64_t>(lru.size());
    st.bytes = total_bytes(lru);
    return st;
  }
  template <typename X>
  void evict_locked(std::list<std::shared_ptr<X>>* lru, int64_t* evictions,
                    std::vector<std::shared_ptr<void>>* doomed) {
    // Entries are shared_ptrs: a solve in flight keeps its factorization alive after eviction.
    while (static_cast<int64_t>(lru->size()) > capacity_ || (lru->size() > 1 && total_bytes(*lru) > max_bytes_)) {
      doomed->push_back(std::move(lru->back()));
      lru->pop_back();
      *evictions += 1;
    }
  }

  mutable std::mutex mu_;
  int64_t capacity_;
  int64_t max_bytes_;
  std::list<std::shared_ptr<Symbolic>> sym_;
  std::list<std::shared_ptr<Numeric>> num_;
  LruStats sym_stats_, num_stats_;
  int64_t factorizations_ = 0, refactorizations_ = 0;
};

}  // namespace nativax
