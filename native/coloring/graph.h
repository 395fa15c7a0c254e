// Compressed sparse index structures for graph coloring: validation of user-supplied CSC/CSR arrays (viewed
// in place, not copied), transposition, and the symmetrized adjacency graph of a square pattern.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nativax::coloring {

// One compressed axis: `ptr` (n_major + 1 offsets) and `idx` (minor indices in [0, n_minor), int32: every
// dimension of a SparsityPattern is < 2^31). For CSC, major = columns and minor = rows; for CSR the other way
// round. The arrays are either borrowed (a view of caller-owned memory that outlives this struct) or owned
// (`own_ptr`/`own_idx`); moving keeps the views valid, copying is not allowed.
struct Compressed {
  int64_t n_major = 0;
  int64_t n_minor = 0;
  const int64_t* ptr = nullptr;
  const int32_t* idx = nullptr;
  std::vector<int64_t> own_ptr;
  std::vector<int32_t> own_idx;

  Compressed() = default;
  Compressed(Compressed&&) = default;
  Compressed& operator=(Compressed&&) = default;
  Compressed(const Compressed&) = delete;
  Compressed& operator=(const Compressed&) = delete;

  int64_t nnz() const { return ptr ? ptr[n_major] : 0; }
  const int32_t* begin(int64_t j) const { return idx + ptr[j]; }
  const int32_t* end(int64_t j) const { return idx + ptr[j + 1]; }
  int64_t degree(int64_t j) const { return ptr[j + 1] - ptr[j]; }
  // Points the views at the owned vectors (after filling them).
  void adopt() {
    ptr = own_ptr.data();
    idx = own_idx.data();
  }
};

// Checks ptr[0] == 0, nondecreasing, ptr[n_major] == nnz, 0 <= idx < n_minor < 2^31. Returns an empty string
// on success, else a message naming the offending argument.
std::string validate(const int64_t* ptr, int64_t ptr_len, const int32_t* idx, int64_t nnz, int64_t n_minor,
                     const char* ptr_name, const char* idx_name);

// A view of validated caller-owned arrays (no copy).
Compressed view(const int64_t* ptr, int64_t ptr_len, const int32_t* idx, int64_t n_minor);

// `ptr` (n + 1 offsets) of the compressed form whose major indices, one per stored entry, are `major`
// (nondecreasing, in [0, n)): O(nnz), no sort. Returns an empty string on success, else what is wrong.
std::string offsets_of_sorted(const int32_t* major, int64_t nnz, int64_t n, const char* name,
                              std::vector<int64_t>* ptr);

// The other compressed axis (CSC <-> CSR) by a counting sort, O(nnz); minor indices come out sorted within
// each major slot.
Compressed transpose(const Compressed& a);

// Whether `a` equals its transpose exactly (square, structurally symmetric, minor indices sorted within each
// major slot), checked in O(nnz) without building the transpose. Then `a` serves as its own transpose.
bool is_own_transpose(const Compressed& a);

// Adjacency lists of the undirected graph with an edge {i, j} (i != j) for every stored (i, j) or (j, i) of a
// square pattern: duplicates and the diagonal removed, neighbors sorted.
Compressed symmetric_adjacency(const Compressed& a);

}  // namespace nativax::coloring
