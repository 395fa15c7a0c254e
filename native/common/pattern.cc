#include "common/pattern.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "common/hash.h"

namespace nativax {

size_t Pattern::bytes() const {
  return sizeof(int32_t) * (rows.size() + cols.size() + Ap.size() + Ai.size() + slot.size());
}

uint64_t pattern_hash(int64_t n, const int32_t* rows, const int32_t* cols, int64_t nnz) {
  uint64_t h = hash_bytes(&n, sizeof(n));
  h = hash_bytes(rows, sizeof(int32_t) * nnz, h);
  return hash_bytes(cols, sizeof(int32_t) * nnz, h);
}

bool Pattern::matches(int64_t n_, const int32_t* r, const int32_t* c, int64_t nnz, uint64_t h) const {
  return h == hash && n_ == n && nnz == coo_nnz() &&
         std::memcmp(r, rows.data(), sizeof(int32_t) * nnz) == 0 &&
         std::memcmp(c, cols.data(), sizeof(int32_t) * nnz) == 0;
}

std::shared_ptr<const Pattern> build_pattern(int64_t n, const int32_t* rows, const int32_t* cols,
                                             int64_t nnz, uint64_t hash, std::string* err) {
  if (n <= 0) {
    *err = "matrix size n must be positive, got " + std::to_string(n);
    return nullptr;
  }
  if (n > INT32_MAX - 1 || nnz > INT32_MAX - 1) {
    *err = "matrix too large for 32-bit sparse-direct indices (n=" + std::to_string(n) +
           ", nnz=" + std::to_string(nnz) + ")";
    return nullptr;
  }
  for (int64_t k = 0; k < nnz; ++k) {
    if (rows[k] < 0 || rows[k] >= n) {
      *err = "`rows` index out of range: rows[" + std::to_string(k) + "] = " + std::to_string(rows[k]) +
             ", expected 0 <= row < n = " + std::to_string(n);
      return nullptr;
    }
    if (cols[k] < 0 || cols[k] >= n) {
      *err = "`cols` index out of range: cols[" + std::to_string(k) + "] = " + std::to_string(cols[k]) +
             ", expected 0 <= col < n = " + std::to_string(n);
      return nullptr;
    }
  }
  auto p = std::make_shared<Pattern>();
  p->n = n;
  p->rows.assign(rows, rows + nnz);
  p->cols.assign(cols, cols + nnz);
  p->hash = hash;
  // Order COO entries by (col, row), stably, with two counting-sort passes (by row, then by col): O(nnz + n),
  // where a comparison sort was a tenth of a small matrix's analysis. Duplicates end up adjacent and merge.
  std::vector<int32_t> by_row(nnz), order(nnz);
  {
    std::vector<int64_t> start(n + 1, 0);
    for (int64_t k = 0; k < nnz; ++k) start[rows[k] + 1] += 1;
    for (int64_t i = 0; i < n; ++i) start[i + 1] += start[i];
    for (int64_t k = 0; k < nnz; ++k) by_row[start[rows[k]]++] = static_cast<int32_t>(k);
    std::fill(start.begin(), start.end(), 0);
    for (int64_t k = 0; k < nnz; ++k) start[cols[k] + 1] += 1;
    for (int64_t j = 0; j < n; ++j) start[j + 1] += start[j];
    for (int64_t i = 0; i < nnz; ++i) {
      const int32_t k = by_row[i];
      order[start[cols[k]]++] = k;
    }
  }
  p->Ap.assign(n + 1, 0);
  p->slot.assign(nnz, 0);
  p->Ai.reserve(nnz);
  int32_t last_r = -1, last_c = -1;
  for (int64_t i = 0; i < nnz; ++i) {
    int32_t k = order[i];
    if (rows[k] != last_r || cols[k] != last_c) {
      p->Ai.push_back(rows[k]);
      p->Ap[cols[k] + 1] += 1;
      last_r = rows[k];
      last_c = cols[k];
    }
    p->slot[k] = static_cast<int32_t>(p->Ai.size() - 1);
  }
  for (int64_t j = 0; j < n; ++j) p->Ap[j + 1] += p->Ap[j];
  p->Ai.shrink_to_fit();
  return p;
}

}  // namespace nativax
