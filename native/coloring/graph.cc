#include "coloring/graph.h"

#include <algorithm>
#include <limits>

namespace nativax::coloring {

std::string validate(const int64_t* ptr, int64_t ptr_len, const int32_t* idx, int64_t nnz, int64_t n_minor,
                     const char* ptr_name, const char* idx_name) {
  const std::string p(ptr_name), i(idx_name);
  if (ptr_len < 1) return "`" + p + "` must have length n + 1 >= 1, got length 0";
  if (n_minor < 0) return "the number of rows/columns must be >= 0, got " + std::to_string(n_minor);
  if (n_minor > std::numeric_limits<int32_t>::max() || ptr_len - 1 > std::numeric_limits<int32_t>::max()) {
    return "dimensions must be < 2^31, got " + std::to_string(ptr_len - 1) + " x " + std::to_string(n_minor);
  }
  if (ptr[0] != 0) return "`" + p + "[0]` must be 0, got " + std::to_string(ptr[0]);
  for (int64_t k = 1; k < ptr_len; ++k) {
    if (ptr[k] < ptr[k - 1]) {
      return "`" + p + "` must be nondecreasing, but " + p + "[" + std::to_string(k) + "] = " +
             std::to_string(ptr[k]) + " < " + p + "[" + std::to_string(k - 1) + "] = " + std::to_string(ptr[k - 1]);
    }
  }
  if (ptr[ptr_len - 1] != nnz) {
    return "`" + p + "[-1]` = " + std::to_string(ptr[ptr_len - 1]) + " must equal len(" + i + ") = " +
           std::to_string(nnz);
  }
  // One branch-free pass (unsigned compare catches negatives), the message only on failure.
  const uint32_t lim = static_cast<uint32_t>(n_minor);
  bool bad = false;
  for (int64_t k = 0; k < nnz; ++k) bad |= static_cast<uint32_t>(idx[k]) >= lim;
  if (bad) {
    for (int64_t k = 0; k < nnz; ++k) {
      if (idx[k] < 0 || idx[k] >= n_minor) {
        return "`" + i + "[" + std::to_string(k) + "]` = " + std::to_string(idx[k]) +
               " is out of range (expected 0 <= " + i + " < " + std::to_string(n_minor) + ")";
      }
    }
  }
  return {};
}

Compressed view(const int64_t* ptr, int64_t ptr_len, const int32_t* idx, int64_t n_minor) {
  Compressed a;
  a.n_major = ptr_len - 1;
  a.n_minor = n_minor;
  a.ptr = ptr;
  a.idx = idx;
  return a;
}

std::string offsets_of_sorted(const int32_t* major, int64_t nnz, int64_t n, const char* name,
                              std::vector<int64_t>* ptr) {
  const std::string m(name);
  if (n < 0 || n > std::numeric_limits<int32_t>::max()) {
    return "the number of columns must be in [0, 2^31), got " + std::to_string(n);
  }
  ptr->assign(n + 1, 0);
  int64_t j = 0;  // ptr[0..j] are final: entries before ptr[j] have major index < j
  for (int64_t k = 0; k < nnz; ++k) {
    const int64_t c = major[k];
    if (c < 0 || c >= n) {
      return "`" + m + "[" + std::to_string(k) + "]` = " + std::to_string(c) + " is out of range (expected 0 <= " +
             m + " < " + std::to_string(n) + ")";
    }
    if (c + 1 < j) {
      return "`" + m + "` must be nondecreasing (CSC order), but " + m + "[" + std::to_string(k) + "] = " +
             std::to_string(c) + " < " + m + "[" + std::to_string(k - 1) + "] = " + std::to_string(major[k - 1]);
    }
    while (j <= c) (*ptr)[j++] = k;
  }
  while (j <= n) (*ptr)[j++] = nnz;
  return {};
}

Compressed transpose(const Compressed& a) {
  Compressed t;
  t.n_major = a.n_minor;
  t.n_minor = a.n_major;
  t.own_ptr.assign(t.n_major + 1, 0);
  const int64_t nnz = a.nnz();
  for (int64_t k = 0; k < nnz; ++k) ++t.own_ptr[a.idx[k] + 1];
  for (int64_t k = 0; k < t.n_major; ++k) t.own_ptr[k + 1] += t.own_ptr[k];
  t.own_idx.resize(nnz);
  std::vector<int64_t> next(t.own_ptr.begin(), t.own_ptr.end() - 1);
  for (int64_t j = 0; j < a.n_major; ++j) {
    for (const int32_t* r = a.begin(j); r != a.end(j); ++r) t.own_idx[next[*r]++] = static_cast<int32_t>(j);
  }
  t.adopt();
  return t;
}

bool is_own_transpose(const Compressed& a) {
  if (a.n_major != a.n_minor) return false;
  const int64_t n = a.n_major, nnz = a.nnz();
  std::vector<int64_t> cursor(n, 0);
  for (int64_t k = 0; k < nnz; ++k) ++cursor[a.idx[k]];  // entries per row
  for (int64_t j = 0; j < n; ++j) {
    if (cursor[j] != a.degree(j)) return false;
    cursor[j] = a.ptr[j];
  }
  // Columns in ascending order: the entries (r, j) of row r arrive with j ascending, so column r must list
  // exactly those j, in that order. Equal counts keep every cursor inside its column.
  for (int64_t j = 0; j < n; ++j) {
    for (const int32_t* r = a.begin(j); r != a.end(j); ++r) {
      if (a.idx[cursor[*r]++] != j) return false;
    }
  }
  return true;
}

Compressed symmetric_adjacency(const Compressed& a) {
  const Compressed t = transpose(a);
  const int64_t n = a.n_major;
  Compressed g;
  g.n_major = g.n_minor = n;
  g.own_ptr.assign(n + 1, 0);
  std::vector<int64_t> mark(n, -1);
  // Two passes (count, then fill) over the union of column j of A and column j of A^T.
  for (int pass = 0; pass < 2; ++pass) {
    std::fill(mark.begin(), mark.end(), -1);
    for (int64_t j = 0; j < n; ++j) {
      int64_t out = pass ? g.own_ptr[j] : 0, count = 0;
      for (const Compressed* m : {&a, &t}) {
        for (const int32_t* r = m->begin(j); r != m->end(j); ++r) {
          if (*r == j || mark[*r] == j) continue;
          mark[*r] = j;
          if (pass) g.own_idx[out++] = *r;
          ++count;
        }
      }
      if (pass) {
        std::sort(g.own_idx.begin() + g.own_ptr[j], g.own_idx.begin() + g.own_ptr[j + 1]);
      } else {
        g.own_ptr[j + 1] = count;
      }
    }
    if (!pass) {
      for (int64_t k = 0; k < n; ++k) g.own_ptr[k + 1] += g.own_ptr[k];
      g.own_idx.resize(g.own_ptr[n]);
    }
  }
  g.adopt();
  return g;
}

}  // namespace nativax::coloring
