// An exact sparsity pattern: the user's COO (row, col) lists plus the CSC structure the direct engines need and the map
// from each COO entry to its CSC slot (duplicates share a slot and are summed).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nativax {

struct Pattern {
  int64_t n = 0;                 // the matrix is n x n
  std::vector<int32_t> rows;     // COO rows as given (the cache key)
  std::vector<int32_t> cols;     // COO cols as given (the cache key)
  uint64_t hash = 0;             // hash of (n, rows, cols)
  std::vector<int32_t> Ap, Ai;   // CSC structure, duplicates merged, rows sorted within columns
  std::vector<int32_t> slot;     // COO entry k -> CSC position
  int64_t coo_nnz() const { return static_cast<int64_t>(rows.size()); }
  int64_t csc_nnz() const { return static_cast<int64_t>(Ai.size()); }
  size_t bytes() const;
  // Exact comparison against raw COO arrays (hash first, then memcmp).
  bool matches(int64_t n, const int32_t* rows, const int32_t* cols, int64_t nnz, uint64_t hash) const;
};

uint64_t pattern_hash(int64_t n, const int32_t* rows, const int32_t* cols, int64_t nnz);

// Validates indices (0 <= index < n) and builds the pattern. On invalid input returns nullptr and sets *err
// to a message naming the offending argument, position and value.
std::shared_ptr<const Pattern> build_pattern(int64_t n, const int32_t* rows, const int32_t* cols,
                                             int64_t nnz, uint64_t hash, std::string* err);

}  // namespace nativax
