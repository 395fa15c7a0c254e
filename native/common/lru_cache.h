// Content-addressed LRU caches of one direct engine: symbolic analyses keyed by the exact COO pattern, numeric
// factorizations keyed by (symbolic, value kind, exact CSC values). A solve inside jit finds or builds what it
// needs within one FFI call, so nothing allocated under jit outlives the cache's bounds, and the adjoint solve
// of jax.grad finds the forward factorization. Capacity 0 = isolated mode (build and free every call).
//
// Concurrent misses on one key are joined (single flight): the first caller builds, later ones wait for its
// result instead of building a copy. jax.grad's forward solve and its adjoint solve are independent in the
// graph, so XLA may run them at the same time; without this both would factor the same matrix.
//
// `E` is an engine (see common/engine.h): E::Symbolic, E::Numeric, E::analyze, E::factor, E::refactor.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/options.h"
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

  // Find or build (validate + analyze) the symbolic analysis of an n x n COO pattern with `opts` (part of
  // the key: an analysis made with other options is never returned).
  std::shared_ptr<Symbolic> symbolic(int64_t n, const int32_t* rows, const int32_t* cols, int64_t nnz,
                                     std::string* err, const Options& opts = Options{}) {
    const uint64_t h = pattern_hash(n, rows, cols, nnz);
    std::shared_ptr<SymbolicBuild> build;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (auto it = sym_.begin(); it != sym_.end(); ++it) {
        if ((*it)->opts == opts && (*it)->pattern->matches(n, rows, cols, nnz, h)) {
          sym_.splice(sym_.begin(), sym_, it);
          sym_stats_.hits += 1;
          return sym_.front();
        }
      }
      for (const auto& b : sym_building_) {
        if (b->opts == opts && b->matches(n, rows, cols, nnz, h)) {  // being analysed by another caller: wait for it
          sym_stats_.hits += 1;
          auto joined = b;
          cv_.wait(lock, [&] { return joined->done; });
          if (!joined->result) *err = joined->err;
          return joined->result;
        }
      }
      sym_stats_.misses += 1;
      if (capacity_ > 0) {
        build = std::make_shared<SymbolicBuild>(n, h, rows, cols, nnz, opts);
        sym_building_.push_back(build);
      }
    }
    std::shared_ptr<Symbolic> s;
    auto pattern = build_pattern(n, rows, cols, nnz, h, err);
    if (pattern) s = E::analyze(std::move(pattern), opts, err);
    std::vector<std::shared_ptr<void>> doomed;
    std::lock_guard<std::mutex> lock(mu_);
    if (build) finish_locked(&sym_building_, build, s ? kOk : kFailed, s, s ? std::string() : *err);
    if (!s || capacity_ == 0) return s;
    for (auto it = sym_.begin(); it != sym_.end(); ++it) {
      if ((*it)->opts == opts && (*it)->pattern->matches(n, rows, cols, nnz, h)) return *it;  // cached meanwhile (capacity changes)
    }
    sym_.push_front(s);
    evict_locked(&sym_, &sym_stats_.evictions, &doomed);
    return s;
  }

  // Find or build the numeric factorization of `values` (CSC order) on `s`. On a miss with a full cache whose
  // least-recently-used entry has the same analysis and is idle, that entry is refactored in place.
  // *hit (when given): whether the factorization was found (or joined) rather than computed by this call.
  int32_t numeric(const std::shared_ptr<Symbolic>& s, bool cplx, std::vector<double> values, uint64_t hash,
                  std::shared_ptr<Numeric>* out, bool* hit = nullptr) {
    if (hit) *hit = true;
    std::shared_ptr<Numeric> recycled;
    std::shared_ptr<NumericBuild> build;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (auto it = num_.begin(); it != num_.end(); ++it) {
        if ((*it)->matches(s.get(), cplx, values, hash)) {
          num_.splice(num_.begin(), num_, it);
          num_stats_.hits += 1;
          *out = num_.front();
          return kOk;
        }
      }
      for (const auto& b : num_building_) {
        if (b->matches(s.get(), cplx, values, hash)) {  // being factored by another caller: wait for it
          num_stats_.hits += 1;
          auto joined = b;
          cv_.wait(lock, [&] { return joined->done; });
          *out = joined->result;
          return joined->status;
        }
      }
      num_stats_.misses += 1;
      if (hit) *hit = false;
      if (capacity_ > 0) {
        build = std::make_shared<NumericBuild>(s.get(), cplx, hash, values);
        num_building_.push_back(build);
      }
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
    if (st != kOk) fresh.reset();
    if (build) finish_locked(&num_building_, build, st, fresh, std::string());
    if (st != kOk) return st;
    (used_refactor ? refactorizations_ : factorizations_) += 1;
    *out = fresh;
    if (capacity_ == 0) return kOk;
    for (auto it = num_.begin(); it != num_.end(); ++it) {
      if ((*it)->matches(s.get(), cplx, fresh->values, hash)) {
        *out = *it;  // cached meanwhile (capacity changes); ours is dropped
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
  // A build in progress; callers that miss on the same key wait on cv_ until `done`.
  template <typename R>
  struct Build {
    bool done = false;
    int32_t status = kOk;
    std::shared_ptr<R> result;
    std::string err;
  };
  struct SymbolicBuild : Build<Symbolic> {
    int64_t n;
    uint64_t hash;
    std::vector<int32_t> rows, cols;
    Options opts;
    SymbolicBuild(int64_t n_, uint64_t h, const int32_t* r, const int32_t* c, int64_t nnz, const Options& o)
        : n(n_), hash(h), rows(r, r + nnz), cols(c, c + nnz), opts(o) {}
    bool matches(int64_t n_, const int32_t* r, const int32_t* c, int64_t nnz, uint64_t h) const {
      return h == hash && n_ == n && nnz == static_cast<int64_t>(rows.size()) &&
             std::memcmp(r, rows.data(), nnz * sizeof(int32_t)) == 0 &&
             std::memcmp(c, cols.data(), nnz * sizeof(int32_t)) == 0;
    }
  };
  struct NumericBuild : Build<Numeric> {
    const Symbolic* symbolic;
    bool cplx;
    uint64_t hash;
    std::vector<double> values;  // a copy: the builder hands its own to the engine
    NumericBuild(const Symbolic* s, bool c, uint64_t h, const std::vector<double>& v)
        : symbolic(s), cplx(c), hash(h), values(v) {}
    bool matches(const Symbolic* s, bool c, const std::vector<double>& v, uint64_t h) const {
      return h == hash && s == symbolic && c == cplx && v.size() == values.size() &&
             std::memcmp(v.data(), values.data(), v.size() * sizeof(double)) == 0;
    }
  };
  template <typename B, typename R>
  void finish_locked(std::list<std::shared_ptr<B>>* building, const std::shared_ptr<B>& b, int32_t status,
                     const std::shared_ptr<R>& result, const std::string& err) {
    b->done = true;
    b->status = status;
    b->result = result;
    b->err = err;
    building->remove(b);
    cv_.notify_all();
  }

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
  std::list<std::shared_ptr<SymbolicBuild>> sym_building_;
  std::list<std::shared_ptr<NumericBuild>> num_building_;
  std::condition_variable cv_;
  LruStats sym_stats_, num_stats_;
  int64_t factorizations_ = 0, refactorizations_ = 0;
};

}  // namespace nativax
