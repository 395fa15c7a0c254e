#include "common/batch_solve.h"
#include "common/status.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <type_traits>

#include "common/blas_threads.h"
#include "common/thread_pool.h"

namespace nativax {
namespace {

template <typename T>
struct Traits {
  static constexpr bool kComplex = false;
  static double re(const T& v) { return static_cast<double>(v); }
  static double im(const T&) { return 0.0; }
  static T make(double r, double) { return static_cast<T>(r); }
  static bool finite(const T& v) { return std::isfinite(v); }
};
template <typename R>
struct Traits<std::complex<R>> {
  static constexpr bool kComplex = true;
  static double re(const std::complex<R>& v) { return static_cast<double>(v.real()); }
  static double im(const std::complex<R>& v) { return static_cast<double>(v.imag()); }
  static std::complex<R> make(double r, double i) { return {static_cast<R>(r), static_cast<R>(i)}; }
  static bool finite(const std::complex<R>& v) { return std::isfinite(v.real()) && std::isfinite(v.imag()); }
};

template <typename T>
void fill_nan(T* x, int64_t count) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t i = 0; i < count; ++i) x[i] = Traits<T>::make(nan, nan);
}

}  // namespace

ffi::ErrorOr<Broadcast> broadcast(const std::vector<int64_t>& v_batch, const std::vector<int64_t>& b_batch,
                                  const std::vector<int64_t>& out_batch) {
  const size_t r = out_batch.size();
  if (v_batch.size() > r || b_batch.size() > r) {
    return ffi::Unexpected(invalid("batch dimensions of `values`/`b` exceed those of the output"));
  }
  std::string err;
  auto strides = [&](const std::vector<int64_t>& dims, const char* name, std::vector<int64_t>* st) {
    st->assign(r, 0);
    int64_t s = 1;
    for (size_t i = 0; i < dims.size(); ++i) {
      size_t d = dims.size() - 1 - i, o = r - 1 - i;
      if (dims[d] != 1 && dims[d] != out_batch[o]) {
        err = std::string("batch dimension of `") + name + "` (" + std::to_string(dims[d]) +
              ") does not broadcast to " + std::to_string(out_batch[o]);
        return false;
      }
      (*st)[o] = dims[d] == 1 ? 0 : s;
      s *= dims[d];
    }
    return true;
  };
  std::vector<int64_t> sv, sb;
  if (!strides(v_batch, "values", &sv) || !strides(b_batch, "b", &sb)) return ffi::Unexpected(invalid(err));
  int64_t total = 1;
  for (auto d : out_batch) total *= d;
  Broadcast bc;
  bc.v_index.assign(total, 0);
  bc.b_index.assign(total, 0);
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < total; ++o) {
    int64_t vi = 0, bi = 0;
    for (size_t d = 0; d < r; ++d) {
      vi += idx[d] * sv[d];
      bi += idx[d] * sb[d];
    }
    bc.v_index[o] = vi;
    bc.b_index[o] = bi;
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < out_batch[d]) break;
      idx[d] = 0;
    }
  }
  return bc;
}

template <typename T>
void solve_batched(const FactorizationProvider& provider, int64_t n_value_sets, const Broadcast& bc,
                   const T* b, T* x, int32_t* status, double* info, bool condest, int64_t n, int64_t k, int mode) {
  const std::vector<int64_t>& v_index = bc.v_index;
  const std::vector<int64_t>& b_index = bc.b_index;
  using Tr = Traits<T>;
  constexpr int W = Tr::kComplex ? 2 : 1;
  const int64_t block = n * k;
  std::vector<std::vector<int64_t>> groups(n_value_sets);
  for (size_t o = 0; o < v_index.size(); ++o) groups[v_index[o]].push_back(static_cast<int64_t>(o));
  std::vector<int64_t> active;
  for (int64_t vi = 0; vi < n_value_sets; ++vi) {
    if (!groups[vi].empty()) active.push_back(vi);
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Batch-parallel: one factorization per worker, BLAS single-threaded in each (no P^2 threads on P cores).
  const bool batch_parallel = active.size() > 1 && pool_concurrency() > 1;
  SerialBlasScope outer(batch_parallel);
  parallel_for(static_cast<int64_t>(active.size()), [&](int64_t a) {
    SerialBlasScope inner(batch_parallel);  // thread-local BLAS controls act in the worker's own thread
    const auto& group = groups[active[a]];
    std::shared_ptr<Factorization> num;
    bool hit = false;
    int32_t st = provider(active[a], &num, &hit);
    if (st == kOk && Tr::kComplex != num->complex_values()) st = kFailed;  // guarded by the Python layer
    if (info) {
      double d[kInfoFields] = {nan, nan, nan, nan, hit ? 1.0 : 0.0};
      if (st == kOk) num->diagnostics(d, condest);
      for (int64_t o : group) std::copy(d, d + kInfoFields, info + o * kInfoFields);
    }
    std::vector<int64_t> good;
    for (int64_t o : group) {
      const T* src = b + b_index[o] * block;
      bool finite = true;
      for (int64_t i = 0; i < block && finite; ++i) finite = Tr::finite(src[i]);
      status[o] = st != kOk ? st : (finite ? kOk : kNonFiniteRhs);
      if (status[o] == kOk) {
        good.push_back(o);
      } else {
        fill_nan(x + o * block, block);
      }
    }
    if (good.empty()) return;
    const int64_t ncols = static_cast<int64_t>(good.size()) * k;
    std::vector<double> work(static_cast<size_t>(W) * n * ncols);
    for (size_t g = 0; g < good.size(); ++g) {
      const T* src = b + b_index[good[g]] * block;
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < k; ++j) {
          const int64_t col = static_cast<int64_t>(g) * k + j;
          const T v = src[i * k + j];
          work[W * (i + col * n)] = Tr::re(v);
          if constexpr (Tr::kComplex) work[W * (i + col * n) + 1] = Tr::im(v);
        }
      }
    }
    int32_t sst = num->solve_inplace(mode, work.data(), ncols);
    for (size_t g = 0; g < good.size(); ++g) {
      T* dst = x + good[g] * block;
      if (sst != kOk) {
        status[good[g]] = sst;
        fill_nan(dst, block);
        continue;
      }
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < k; ++j) {
          const int64_t col = static_cast<int64_t>(g) * k + j;
          const double* w = &work[W * (i + col * n)];
          dst[i * k + j] = Tr::make(w[0], Tr::kComplex ? w[1] : 0.0);
        }
      }
      // Finite A and b but a non-finite x: a pivot so tiny that the solution overflowed. The matrix is
      // numerically singular; say so rather than hand back Inf.
      bool finite = true;
      for (int64_t i = 0; i < block && finite; ++i) finite = Tr::finite(dst[i]);
      if (!finite) {
        status[good[g]] = kNumericallySingular;
        fill_nan(dst, block);
      }
    }
  });
}

#define NATIVAX_INSTANTIATE(T)                                                                          \
  template void solve_batched<T>(const FactorizationProvider&, int64_t, const Broadcast&, const T*, T*, int32_t*, \
                                 double*, bool, int64_t, int64_t, int);
NATIVAX_INSTANTIATE(float)
NATIVAX_INSTANTIATE(double)
NATIVAX_INSTANTIATE(std::complex<float>)
NATIVAX_INSTANTIATE(std::complex<double>)
#undef NATIVAX_INSTANTIATE

}  // namespace nativax
