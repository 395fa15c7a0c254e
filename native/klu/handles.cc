#include "klu/handles.h"

#include <complex>

#include "common/engine.h"
#include "common/hash.h"
#include "common/registry.h"
#include "klu/cache.h"

namespace nativax::klu {

std::shared_ptr<Symbolic> get_symbolic(int64_t id, std::string* err) {
  return std::static_pointer_cast<Symbolic>(registry().get(id, HandleKind::kKluSymbolic, err));
}

std::shared_ptr<Numeric> get_numeric(int64_t id, std::string* err) {
  return std::static_pointer_cast<Numeric>(registry().get(id, HandleKind::kKluNumeric, err));
}

int32_t handle_analyze(int64_t n, const int32_t* rows, const int32_t* cols, int64_t nnz, int64_t* id,
                       std::string* err) {
  auto s = cache().symbolic(n, rows, cols, nnz, err);
  if (!s) return -1;
  *id = registry().insert(s, HandleKind::kKluSymbolic);
  return kOk;
}

int32_t handle_factor(int64_t symbolic_id, bool cplx, const double* values, int64_t nnz, int64_t* id,
                      std::string* err) {
  auto s = get_symbolic(symbolic_id, err);
  if (!s) return -1;
  std::vector<double> csc;
  if (!csc_values(*s->pattern, cplx, values, nnz, &csc, err)) return -1;
  const uint64_t h = values_hash(csc);
  std::shared_ptr<Numeric> num;
  int32_t st = factor(s, cplx, std::move(csc), h, &num);
  if (st != kOk) return st;
  *id = registry().insert(num, HandleKind::kKluNumeric);
  return kOk;
}

int32_t handle_refactor(int64_t numeric_id, const double* values, int64_t nnz, int64_t* id, std::string* err) {
  auto num = get_numeric(numeric_id, err);
  if (!num) return -1;
  std::vector<double> csc;
  if (!csc_values(*num->symbolic->pattern, num->is_complex, values, nnz, &csc, err)) return -1;
  const uint64_t h = values_hash(csc);
  // Take the factorization away from the old id first: no one can reach it through a stale handle.
  registry().release(numeric_id);
  int32_t st;
  {
    std::lock_guard<std::mutex> lock(num->mu);  // a solve in flight on another thread finishes first
    st = refactor(num.get(), std::move(csc), h);
  }
  if (st != kOk) return st;
  *id = registry().insert(num, HandleKind::kKluNumeric);
  return kOk;
}

}  // namespace nativax::klu
