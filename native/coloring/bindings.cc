#include "coloring/bindings.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <string>
#include <vector>

#include "coloring/distance2.h"
#include "coloring/graph.h"
#include "coloring/star.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace nativax::coloring {
namespace {

using Index64 = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Index32 = nb::ndarray<const int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Color32 = nb::ndarray<const int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// Moves `v` into a NumPy array that owns it.
template <typename T>
nb::ndarray<nb::numpy, T, nb::ndim<1>> to_numpy(std::vector<T>&& v) {
  auto* heap = new std::vector<T>(std::move(v));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T, nb::ndim<1>>(heap->data(), {heap->size()}, owner);
}

[[noreturn]] void fail(const char* who, const std::string& msg) {
  throw nb::value_error((std::string("nativax.coloring.") + who + ": " + msg).c_str());
}

// A validated view of the caller's arrays (they stay alive, referenced by the Python call, while it runs).
Compressed checked(const char* who, Index64 ptr, Index32 idx, int64_t n_minor) {
  std::string err;
  {
    nb::gil_scoped_release release;
    err = validate(ptr.data(), static_cast<int64_t>(ptr.shape(0)), idx.data(), static_cast<int64_t>(idx.shape(0)),
                   n_minor, "indptr", "indices");
  }
  if (!err.empty()) fail(who, err);
  return view(ptr.data(), static_cast<int64_t>(ptr.shape(0)), idx.data(), n_minor);
}

Compressed checked_square(const char* who, Index64 ptr, Index32 idx) {
  const int64_t n = static_cast<int64_t>(ptr.shape(0)) - 1;
  if (n < 0) fail(who, "`indptr` must have length n + 1 >= 1, got length 0");
  return checked(who, ptr, idx, n);
}

}  // namespace

void register_bindings(nb::module_& m) {
  m.def(
      "color_distance2",
      [](Index64 indptr, Index32 indices, int64_t n_minor, const std::string& order, bool minor) {
        Order o;
        if (order == "dsatur") {
          o = Order::kDsatur;
        } else if (order == "largest_first") {
          o = Order::kLargestFirst;
        } else if (order == "natural") {
          o = Order::kNatural;
        } else {
          fail("color_columns", "`order` must be 'dsatur', 'largest_first' or 'natural', got '" + order + "'");
        }
        const Compressed a = checked(minor ? "color_rows" : "color_columns", indptr, indices, n_minor);
        std::vector<int32_t> colors;
        {
          nb::gil_scoped_release release;
          // Symmetric patterns (stencils) are their own transpose: rows and columns alike, none built. The
          // natural column order needs no transpose (below 64 colors), so it skips the check.
          if ((minor || o != Order::kNatural) && is_own_transpose(a)) {
            colors = color_distance2(a, &a, o);
          } else if (minor) {
            const Compressed t = transpose(a);
            colors = color_distance2(t, &a, o);
          } else {
            colors = color_distance2(a, nullptr, o);
          }
        }
        return to_numpy(std::move(colors));
      },
      nb::arg("indptr").noconvert(), nb::arg("indices").noconvert(), "n_minor"_a, "order"_a, "minor"_a = false,
      "Distance-2 coloring of the major axis (`minor=True`: the minor axis) of a compressed pattern (int64 "
      "`indptr`, int32 `indices`; CSC: columns, rows).");
  m.def(
      "compressed_offsets",
      [](Index32 major, int64_t n) {
        std::vector<int64_t> ptr;
        std::string err;
        {
          nb::gil_scoped_release release;
          err = offsets_of_sorted(major.data(), static_cast<int64_t>(major.shape(0)), n, "cols", &ptr);
        }
        if (!err.empty()) fail("compressed_offsets", err);
        return to_numpy(std::move(ptr));
      },
      nb::arg("major").noconvert(), "n"_a,
      "`indptr` (n + 1 int64 offsets) of entries whose nondecreasing int32 major indices are `major`, O(nnz).");
  m.def(
      "color_star",
      [](Index64 indptr, Index32 indices, const std::string& order) {
        StarOrder o;
        if (order == "natural") {
          o = StarOrder::kNatural;
        } else if (order == "largest_first") {
          o = StarOrder::kLargestFirst;
        } else if (order == "distance2") {
          o = StarOrder::kDistance2;
        } else if (order == "best") {
          o = StarOrder::kBest;
        } else {
          fail("color_star", "`order` must be 'best', 'natural', 'largest_first' or 'distance2', got '" + order + "'");
        }
        Compressed a = checked_square("color_star", indptr, indices);
        std::vector<int32_t> colors;
        {
          nb::gil_scoped_release release;
          colors = color_star(symmetric_adjacency(a), o);
        }
        return to_numpy(std::move(colors));
      },
      nb::arg("indptr").noconvert(), nb::arg("indices").noconvert(), "order"_a,
      "Star coloring of the adjacency graph of a square CSC pattern (int64 `indptr`, int32 `indices`; symmetrized, diagonal ignored).");
  m.def(
      "star_recovery",
      [](Index64 indptr, Index32 indices, Color32 colors) {
        Compressed a = checked_square("star_recovery", indptr, indices);
        if (static_cast<int64_t>(colors.shape(0)) != a.n_major) {
          fail("star_recovery", "`colors` has length " + std::to_string(colors.shape(0)) + ", expected n = " +
                                    std::to_string(a.n_major));
        }
        std::vector<int64_t> positions;
        std::string err;
        {
          nb::gil_scoped_release release;
          err = star_recovery(a, symmetric_adjacency(a), colors.data(), &positions);
        }
        if (!err.empty()) fail("star_recovery", err);
        return to_numpy(std::move(positions));
      },
      nb::arg("indptr").noconvert(), nb::arg("indices").noconvert(), nb::arg("colors").noconvert(),
      "Positions in the (ncolors, n) compressed Hessian that hold each stored entry, for a star coloring.");
}

}  // namespace nativax::coloring
