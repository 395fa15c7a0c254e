#include "amg/bindings.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include <string>
#include <tuple>
#include <vector>

#include "amg/setup_kernels.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace nativax::amg {
namespace {

using Index64 = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Index32 = nb::ndarray<const int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Values = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
template <typename T>
using Out = nb::ndarray<nb::numpy, T, nb::ndim<1>>;

template <typename T>
Out<T> to_numpy(std::vector<T>&& v) {
  auto* heap = new std::vector<T>(std::move(v));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return Out<T>(heap->data(), {heap->size()}, owner);
}

[[noreturn]] void fail(const char* who, const std::string& msg) {
  throw nb::value_error((std::string("nativax.amg.") + who + ": " + msg).c_str());
}

// indptr must start at 0, be nondecreasing and end at nnz.
void check_csr(const char* who, const char* name, Index64 ptr, size_t nnz) {
  if (ptr.shape(0) < 1) fail(who, std::string("`") + name + "_indptr` must have length >= 1");
  const int64_t* p = ptr.data();
  if (p[0] != 0 || p[ptr.shape(0) - 1] != static_cast<int64_t>(nnz))
    fail(who, std::string("`") + name + "_indptr` must start at 0 and end at the number of stored entries");
  for (size_t i = 0; i + 1 < ptr.shape(0); ++i)
    if (p[i + 1] < p[i]) fail(who, std::string("`") + name + "_indptr` must be nondecreasing");
}

}  // namespace

void register_bindings(nb::module_& m) {
  m.def(
      "amg_standard_aggregation",
      [](Index64 indptr, Index32 indices) {
        check_csr("standard_aggregation", "", indptr, indices.shape(0));
        const int64_t n = static_cast<int64_t>(indptr.shape(0)) - 1;
        for (size_t p = 0; p < indices.shape(0); ++p)
          if (indices.data()[p] < 0 || indices.data()[p] >= n)
            fail("standard_aggregation", "`indices` out of range [0, n)");
        std::vector<int32_t> agg(static_cast<size_t>(n));
        int32_t count;
        {
          nb::gil_scoped_release release;
          count = standard_aggregation(n, indptr.data(), indices.data(), agg.data());
        }
        return std::make_tuple(to_numpy(std::move(agg)), count);
      },
      "indptr"_a, "indices"_a,
      "Standard aggregation of a square CSR strength graph: (aggregate per node, -1 = isolated; count).");
  m.def(
      "amg_product_map",
      [](Index64 l_indptr, Index32 l_indices, int64_t k, Index64 b_indptr, Index32 b_indices, int64_t n_cols,
         Values coeff, bool variable_left) {
        check_csr("product_map", "l", l_indptr, l_indices.shape(0));
        check_csr("product_map", "b", b_indptr, b_indices.shape(0));
        if (static_cast<int64_t>(b_indptr.shape(0)) != k + 1) fail("product_map", "`b_indptr` must have length k + 1");
        const size_t want = variable_left ? b_indices.shape(0) : l_indices.shape(0);
        if (coeff.shape(0) != want) fail("product_map", "`coeff` must hold the fixed factor's values");
        ProductMap pm;
        std::string err;
        {
          nb::gil_scoped_release release;
          err = product_map(static_cast<int64_t>(l_indptr.shape(0)) - 1, l_indptr.data(), l_indices.data(), k,
                            b_indptr.data(), b_indices.data(), n_cols, coeff.data(), variable_left, &pm);
        }
        if (!err.empty()) fail("product_map", err);
        return std::make_tuple(to_numpy(std::move(pm.c_indptr)), to_numpy(std::move(pm.c_indices)),
                               to_numpy(std::move(pm.m_indptr)), to_numpy(std::move(pm.m_indices)),
                               to_numpy(std::move(pm.m_data)), to_numpy(std::move(pm.m_rows)));
      },
      "l_indptr"_a, "l_indices"_a, "k"_a, "b_indptr"_a, "b_indices"_a, "n_cols"_a, "coeff"_a, "variable_left"_a,
      "C = L B with one fixed factor: (C indptr, C indices, map indptr, map indices, map data, map rows), "
      "values(C) = map @ values(variable factor).");
}

}  // namespace nativax::amg
