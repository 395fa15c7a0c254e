// Compressed sparse index structures for graph coloring: validation of user-supplied CSC/CSR arrays,
// transposition, and the symmetrized adjacency graph of a square pattern.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nativax::coloring {

// One compressed axis: `ptr` (length n_major + 1) and `idx` (minor indices in [0, n_minor)).
// For CSC, major = columns and minor = rows; for CSR the other way round.
struct Compressed {
  int64_t n_major = 0;
  int64_t n_minor = 0;
  std::vector<int64_t> ptr;
  std::vector<int64_t> idx;

  int64_t nnz() const { return static_cast<int64_t>(idx.size()); }
  const int64_t* begin(int64_t j) const { return idx.data() + ptr[j]; }
  const int64_t* end(int64_t j) const { return idx.data() + ptr[j + 1]; }
};

// Checks and copies `ptr`/`idx`: ptr[0] == 0, nondecreasing, ptr[n_major] == nnz, 0 <= idx < n_minor.
// Returns an empty string on success, else a message naming the offending argument (`who` prefixes it).
std::string validate(const int64_t* ptr, int64_t ptr_len, const int64_t* idx, int64_t nnz, int64_t n_minor,
                     const char* ptr_name, const char* idx_name);

Compressed copy(const int64_t* ptr, int64_t ptr_len, const int64_t* idx, int64_t nnz, int64_t n_minor);

// The other compressed axis (CSC <-> CSR); minor indices come out sorted within each major slot.
Compressed transpose(const Compressed& a);

// Adjacency lists of the undirected graph with an edge {i, j} (i != j) for every stored (i, j) or (j, i) of a
// square pattern: duplicates and the diagonal removed, neighbors sorted.
Compressed symmetric_adjacency(const Compressed& a);

}  // namespace nativax::coloring
