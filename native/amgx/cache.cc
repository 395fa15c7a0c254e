#include "amgx/cache.h"

#include <cstdlib>
#include <cstring>

#include "common/env.h"
#include "common/hash.h"

namespace nativax::amgx {
namespace {


constexpr AMGX_Mode kMode = AMGX_mode_dDDI;  // device storage, double vectors and matrix, int indices

}  // namespace

void Key::compute_hash() {
  int64_t head[4] = {device, transposed ? 1 : 0, n, nnz};
  uint64_t h = hash_bytes(head, sizeof(head));
  h = hash_bytes(config.data(), config.size(), h);
  h = hash_bytes(row_ptr.data(), row_ptr.size() * sizeof(int32_t), h);
  hash = hash_bytes(col_ind.data(), col_ind.size() * sizeof(int32_t), h);
}

bool Key::operator==(const Key& o) const {
  return hash == o.hash && device == o.device && transposed == o.transposed && n == o.n && nnz == o.nnz &&
         config == o.config && row_ptr.size() == o.row_ptr.size() && col_ind.size() == o.col_ind.size() &&
         std::memcmp(row_ptr.data(), o.row_ptr.data(), row_ptr.size() * sizeof(int32_t)) == 0 &&
         std::memcmp(col_ind.data(), o.col_ind.data(), col_ind.size() * sizeof(int32_t)) == 0;
}

std::string System::create(const Api* a) {
  config_ = Config(a->config_destroy);
  resources_ = Resources(a->resources_destroy);
  matrix_ = Matrix(a->matrix_destroy);
  rhs_ = Vector(a->vector_destroy);
  sol_ = Vector(a->vector_destroy);
  solver_ = Solver(a->solver_destroy);
  AMGX_RC rc = a->config_create(config_.out(), key_.config.c_str());
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_config_create (check `amgx_config`)");
  const int devices[1] = {key_.device};
  rc = a->resources_create(resources_.out(), config_.get(), nullptr, 1, devices);
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_resources_create");
  rc = a->matrix_create(matrix_.out(), resources_.get(), kMode);
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_matrix_create");
  rc = a->vector_create(rhs_.out(), resources_.get(), kMode);
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_vector_create");
  rc = a->vector_create(sol_.out(), resources_.get(), kMode);
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_vector_create");
  rc = a->solver_create(solver_.out(), resources_.get(), kMode, config_.get());
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_solver_create");
  return {};
}

std::string System::load(const Api* a, const double* values, bool* resetup_done, bool* setup_done) {
  *resetup_done = *setup_done = false;
  const size_t nnz = static_cast<size_t>(key_.nnz);
  if (!ready_) {
    AMGX_RC rc = a->matrix_upload_all(matrix_.get(), key_.n, key_.nnz, 1, 1, key_.row_ptr.data(),
                                      key_.col_ind.data(), values, nullptr);
    if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_matrix_upload_all");
    rc = a->solver_setup(solver_.get(), matrix_.get());
    if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_solver_setup");
    values_.assign(values, values + nnz);
    ready_ = true;
    *setup_done = true;
    return {};
  }
  if (std::memcmp(values_.data(), values, nnz * sizeof(double)) == 0) return {};
  // On failure the system is marked not ready, so the next call uploads everything again.
  ready_ = false;
  AMGX_RC rc = a->matrix_replace_coefficients(matrix_.get(), key_.n, key_.nnz, values, nullptr);
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_matrix_replace_coefficients");
  rc = a->solver_resetup(solver_.get(), matrix_.get());
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_solver_resetup");
  values_.assign(values, values + nnz);
  ready_ = true;
  *resetup_done = true;
  return {};
}

std::string System::solve(const Api* a, const double* b, double* x, SolveResult* out) {
  AMGX_RC rc = a->vector_upload(rhs_.get(), key_.n, 1, b);
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_vector_upload");
  rc = a->vector_set_zero(sol_.get(), key_.n, 1);
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_vector_set_zero");
  rc = a->solver_solve(solver_.get(), rhs_.get(), sol_.get());
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_solver_solve");
  AMGX_SOLVE_STATUS st = AMGX_SOLVE_FAILED;
  rc = a->solver_get_status(solver_.get(), &st);
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_solver_get_status");
  int iters = 0;
  rc = a->solver_get_iterations_number(solver_.get(), &iters);
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_solver_get_iterations_number");
  rc = a->vector_download(sol_.get(), x);
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_vector_download");
  out->status = static_cast<int32_t>(st);
  out->iterations = iters;
  return {};
}

int64_t System::bytes() const {
  // Host-side bytes only (structure + remembered values); AmgX's device memory is not visible here.
  return static_cast<int64_t>(key_.row_ptr.size() * sizeof(int32_t) + key_.col_ind.size() * sizeof(int32_t) +
                              values_.size() * sizeof(double) + key_.config.size());
}

Cache::Cache() : capacity_(env_int("NATIVAX_AMGX_CACHE_SIZE", 4)) {}

std::shared_ptr<System> Cache::acquire(const Api* a, Key key, std::string* err) {
  key.compute_hash();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
      if ((*it)->key() == key) {
        lru_.splice(lru_.begin(), lru_, it);
        stats_.hits += 1;
        return lru_.front();
      }
    }
    stats_.misses += 1;
  }
  auto sys = std::make_shared<System>(std::move(key));
  std::string e = sys->create(a);
  if (!e.empty()) {
    *err = e;
    return nullptr;  // `sys` (and whatever it created) is destroyed here, under library_mutex
  }
  std::list<std::shared_ptr<System>> doomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (capacity_ > 0) {
      lru_.push_front(sys);
      while (static_cast<int64_t>(lru_.size()) > capacity_) {
        doomed.splice(doomed.begin(), lru_, std::prev(lru_.end()));
        stats_.evictions += 1;
      }
    }
  }
  return sys;  // `doomed` is destroyed here, outside the cache mutex
}

void Cache::count_load(bool setup, bool resetup) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.setups += setup ? 1 : 0;
  stats_.resetups += resetup ? 1 : 0;
}

Stats Cache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s = stats_;
  s.entries = static_cast<int64_t>(lru_.size());
  s.bytes = 0;
  for (const auto& e : lru_) s.bytes += e->bytes();
  s.capacity = capacity_;
  return s;
}

void Cache::set_capacity(int64_t entries) {
  std::list<std::shared_ptr<System>> doomed;
  std::lock_guard<std::mutex> lock(mu_);
  capacity_ = entries < 0 ? 0 : entries;
  while (static_cast<int64_t>(lru_.size()) > capacity_) {
    doomed.splice(doomed.begin(), lru_, std::prev(lru_.end()));
    stats_.evictions += 1;
  }
  // `doomed` is declared before `lock`, so it is destroyed after the lock is released.
}

int64_t Cache::capacity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return capacity_;
}

void Cache::clear() {
  std::list<std::shared_ptr<System>> doomed;
  std::lock_guard<std::mutex> lock(mu_);
  doomed.swap(lru_);
}

void Cache::reset_counters() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t cap = stats_.capacity;
  stats_ = Stats{};
  stats_.capacity = cap;
}

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: AmgX objects must not be freed after AMGX_finalize
  return *c;
}

}  // namespace nativax::amgx
