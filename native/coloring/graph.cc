#include "coloring/graph.h"

#include <algorithm>

namespace nativax::coloring {

std::string validate(const int64_t* ptr, int64_t ptr_len, const int64_t* idx, int64_t nnz, int64_t n_minor,
                     const char* ptr_name, const char* idx_name) {
  const std::string p(ptr_name), i(idx_name);
  if (ptr_len < 1) return "`" + p + "` must have length n + 1 >= 1, got length 0";
  if (n_minor < 0) return "the number of rows/columns must be >= 0, got " + std::to_string(n_minor);
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
  for (int64_t k = 0; k < nnz; ++k) {
    if (idx[k] < 0 || idx[k] >= n_minor) {
      return "`" + i + "[" + std::to_string(k) + "]` = " + std::to_string(idx[k]) + " is out of range (expected 0 <= " +
             i + " < " + std::to_string(n_minor) + ")";
    }
  }
  return {};
}

Compressed copy(const int64_t* ptr, int64_t ptr_len, const int64_t* idx, int64_t nnz, int64_t n_minor) {
  Compressed a;
  a.n_major = ptr_len - 1;
  a.n_minor = n_minor;
  a.ptr.assign(ptr, ptr + ptr_len);
  a.idx.assign(idx, idx + nnz);
  return a;
}

Compressed transpose(const Compressed& a) {
  Compressed t;
  t.n_major = a.n_minor;
  t.n_minor = a.n_major;
  t.ptr.assign(t.n_major + 1, 0);
  for (int64_t r : a.idx) ++t.ptr[r + 1];
  for (int64_t k = 0; k < t.n_major; ++k) t.ptr[k + 1] += t.ptr[k];
  t.idx.resize(a.idx.size());
  std::vector<int64_t> next(t.ptr.begin(), t.ptr.end() - 1);
  for (int64_t j = 0; j < a.n_major; ++j) {
    for (const int64_t* r = a.begin(j); r != a.end(j); ++r) t.idx[next[*r]++] = j;
  }
  return t;
}

Compressed symmetric_adjacency(const Compressed& a) {
  const Compressed t = transpose(a);
  const int64_t n = a.n_major;
  Compressed g;
  g.n_major = g.n_minor = n;
  g.ptr.assign(n + 1, 0);
  std::vector<int64_t> mark(n, -1);
  // Two passes (count, then fill) over the union of column j of A and column j of A^T.
  for (int pass = 0; pass < 2; ++pass) {
    std::fill(mark.begin(), mark.end(), -1);
    for (int64_t j = 0; j < n; ++j) {
      int64_t out = pass ? g.ptr[j] : 0, count = 0;
      for (const Compressed* m : {&a, &t}) {
        for (const int64_t* r = m->begin(j); r != m->end(j); ++r) {
          if (*r == j || mark[*r] == j) continue;
          mark[*r] = j;
          if (pass) g.idx[out++] = *r;
          ++count;
        }
      }
      if (pass) {
        std::sort(g.idx.begin() + g.ptr[j], g.idx.begin() + g.ptr[j + 1]);
      } else {
        g.ptr[j + 1] = count;
      }
    }
    if (!pass) {
      for (int64_t k = 0; k < n; ++k) g.ptr[k + 1] += g.ptr[k];
      g.idx.resize(g.ptr[n]);
    }
  }
  return g;
}

}  // namespace nativax::coloring
