// XLA FFI handler `nativax_amg_csr_matvec`: y = A x for a CSR matrix A whose structure (indptr, indices) is
// shared and whose values may be batched. data (..., nnz), x (..., n_cols), y (..., n_rows); leading (batch)
// dimensions broadcast like NumPy (size-1 dims repeat), which is what `vmap_method="expand_dims"` produces.
// Rows are split into chunks and run in parallel on the shared thread pool.
#include <algorithm>
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include "common/batch_solve.h"
#include "common/ffi.h"
#include "common/thread_pool.h"

namespace nativax::amg {
namespace {

std::vector<int64_t> leading(ffi::AnyBuffer::Dimensions d) {
  std::vector<int64_t> v(d.begin(), d.end());
  v.pop_back();
  return v;
}

template <typename T>
void matvec(const int32_t* indptr, const int32_t* indices, const T* data, const T* x, T* y, int64_t n_rows,
            int64_t nnz, int64_t n_cols, const std::vector<int64_t>& dmap, const std::vector<int64_t>& xmap) {
  const int64_t batch = static_cast<int64_t>(dmap.size());
  // Chunks of roughly equal nonzero count keep threads balanced when row lengths vary.
  const int64_t target = std::max<int64_t>(1, std::min<int64_t>(4 * pool_concurrency(), (nnz + 32767) / 32768));
  std::vector<int64_t> bounds{0};
  for (int64_t c = 1; c < target; ++c) {
    const int64_t want = nnz * c / target;
    const int64_t row = std::upper_bound(indptr, indptr + n_rows + 1, want) - indptr - 1;
    if (row > bounds.back()) bounds.push_back(row);
  }
  bounds.push_back(n_rows);
  const int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;
  parallel_for(batch * chunks, [&](int64_t w) {
    const int64_t b = w / chunks, c = w % chunks;
    const T* a = data + dmap[b] * nnz;
    const T* xb = x + xmap[b] * n_cols;
    T* yb = y + b * n_rows;
    for (int64_t i = bounds[c]; i < bounds[c + 1]; ++i) {
      T acc{};
      for (int32_t k = indptr[i]; k < indptr[i + 1]; ++k) acc += a[k] * xb[indices[k]];
      yb[i] = acc;
    }
  });
}

ffi::Error CsrMatvecImpl(ffi::Buffer<ffi::S32> indptr, ffi::Buffer<ffi::S32> indices, ffi::AnyBuffer data,
                         ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y) {
  auto pd = indptr.dimensions();
  auto id = indices.dimensions();
  auto dd = data.dimensions();
  auto xd = x.dimensions();
  auto yd = y->dimensions();
  for (size_t i = 0; i + 1 < pd.size(); ++i)
    if (pd[i] != 1) return invalid("batching (vmap) over `indptr` is not supported");
  for (size_t i = 0; i + 1 < id.size(); ++i)
    if (id[i] != 1) return invalid("batching (vmap) over `indices` is not supported");
  if (pd.size() < 1 || id.size() < 1 || dd.size() < 1 || xd.size() < 1 || yd.size() < 1)
    return invalid("every operand must have at least one dimension");
  const int64_t n_rows = pd.back() - 1, nnz = id.back(), n_cols = xd.back();
  if (n_rows < 0 || yd.back() != n_rows) return invalid("`y` must have n_rows = len(indptr) - 1 entries");
  if (dd.back() != nnz) return invalid("`data` last dimension must equal len(indices) = " + std::to_string(nnz));
  if (data.element_type() != x.element_type() || x.element_type() != y->element_type())
    return invalid("`data`, `x` and `y` must share one dtype");
  const int32_t* p = indptr.typed_data();
  const int32_t* ix = indices.typed_data();
  if (p[0] != 0 || p[n_rows] != nnz) return invalid("`indptr` must start at 0 and end at nnz");
  auto bc = broadcast(leading(dd), leading(xd), leading(yd));
  if (!bc) return bc.error();
  const std::vector<int64_t>& dmap = bc->v_index;
  const std::vector<int64_t>& xmap = bc->b_index;
  switch (x.element_type()) {
    case ffi::DataType::F32:
      matvec<float>(p, ix, reinterpret_cast<const float*>(data.untyped_data()),
                    reinterpret_cast<const float*>(x.untyped_data()), reinterpret_cast<float*>(y->untyped_data()),
                    n_rows, nnz, n_cols, dmap, xmap);
      break;
    case ffi::DataType::F64:
      matvec<double>(p, ix, reinterpret_cast<const double*>(data.untyped_data()),
                     reinterpret_cast<const double*>(x.untyped_data()),
                     reinterpret_cast<double*>(y->untyped_data()), n_rows, nnz, n_cols, dmap, xmap);
      break;
    case ffi::DataType::C128:
      matvec<std::complex<double>>(p, ix, reinterpret_cast<const std::complex<double>*>(data.untyped_data()),
                                   reinterpret_cast<const std::complex<double>*>(x.untyped_data()),
                                   reinterpret_cast<std::complex<double>*>(y->untyped_data()), n_rows, nnz,
                                   n_cols, dmap, xmap);
      break;
    default:
      return invalid("unsupported dtype; expected float32, float64 or complex128");
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(AmgCsrMatvec, CsrMatvecImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>());

}  // namespace nativax::amg
