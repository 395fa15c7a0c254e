#include "amg/setup_kernels.h"

#include <algorithm>
#include <limits>

namespace nativax::amg {

int32_t standard_aggregation(int64_t n, const int64_t* indptr, const int32_t* indices, int32_t* agg) {
  // agg: -2 unvisited, -1 isolated, >= 0 aggregate. Pass 2 marks joined nodes in `joined` so that a node
  // only joins aggregates made in pass 1 (no chains).
  std::fill(agg, agg + n, -2);
  std::vector<char> pass1(static_cast<size_t>(n), 0);
  int32_t next = 0;
  // Pass 1: a node whose strong neighbours are all free seeds an aggregate with them.
  for (int64_t i = 0; i < n; ++i) {
    if (agg[i] != -2) continue;
    bool neighbours = false, free = true;
    for (int64_t p = indptr[i]; p < indptr[i + 1]; ++p) {
      const int32_t j = indices[p];
      if (j == i) continue;
      neighbours = true;
      if (agg[j] != -2) {
        free = false;
        break;
      }
    }
    if (!neighbours) {
      agg[i] = -1;
    } else if (free) {
      agg[i] = next;
      pass1[i] = 1;
      for (int64_t p = indptr[i]; p < indptr[i + 1]; ++p) {
        agg[indices[p]] = next;
        pass1[indices[p]] = 1;
      }
      ++next;
    }
  }
  // Pass 2: a free node joins the aggregate of a neighbour aggregated in pass 1.
  for (int64_t i = 0; i < n; ++i) {
    if (agg[i] != -2) continue;
    for (int64_t p = indptr[i]; p < indptr[i + 1]; ++p) {
      const int32_t j = indices[p];
      if (pass1[j]) {
        agg[i] = agg[j];
        break;
      }
    }
  }
  // Pass 3: what is left seeds aggregates with its still-free neighbours.
  for (int64_t i = 0; i < n; ++i) {
    if (agg[i] != -2) continue;
    agg[i] = next;
    for (int64_t p = indptr[i]; p < indptr[i + 1]; ++p) {
      if (agg[indices[p]] == -2) agg[indices[p]] = next;
    }
    ++next;
  }
  return next;
}

std::string product_map(int64_t m, const int64_t* l_indptr, const int32_t* l_indices, int64_t k,
                        const int64_t* b_indptr, const int32_t* b_indices, int64_t n_cols, const double* coeff,
                        bool variable_left, ProductMap* out) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  for (int64_t p = 0; p < l_indptr[m]; ++p) {
    if (l_indices[p] < 0 || l_indices[p] >= k) return "left factor column index out of range";
  }
  for (int64_t p = 0; p < b_indptr[k]; ++p) {
    if (b_indices[p] < 0 || b_indices[p] >= n_cols) return "right factor column index out of range";
  }
  // Size the outputs once: the map has one term per (L entry, B entry) pair (no regrowth copies of what can
  // be gigabytes in 3-D); C has at most that many entries and at most m * n_cols.
  int64_t terms_total = 0;
  for (int64_t p = 0; p < l_indptr[m]; ++p) terms_total += b_indptr[l_indices[p] + 1] - b_indptr[l_indices[p]];
  if (terms_total > kMax) return "the product map has more than 2^31 - 1 terms";
  out->m_indices.reserve(static_cast<size_t>(terms_total));
  out->m_rows.reserve(static_cast<size_t>(terms_total));
  out->m_data.reserve(static_cast<size_t>(terms_total));
  out->c_indices.reserve(static_cast<size_t>(std::min<int64_t>(terms_total, m * n_cols)));
  out->m_indptr.reserve(static_cast<size_t>(std::min<int64_t>(terms_total, m * n_cols)) + 1);
  std::vector<int64_t> mark(static_cast<size_t>(n_cols), -1);  // last row that saw the column
  std::vector<int32_t> pos(static_cast<size_t>(n_cols), 0);    // its slot in C (valid for that row)
  std::vector<int32_t> cols;
  std::vector<int64_t> count;
  out->c_indptr.assign(static_cast<size_t>(m) + 1, 0);
  out->m_indptr.assign(1, 0);
  out->c_indices.clear();
  out->m_indices.clear();
  out->m_rows.clear();
  out->m_data.clear();
  for (int64_t i = 0; i < m; ++i) {
    cols.clear();
    for (int64_t a = l_indptr[i]; a < l_indptr[i + 1]; ++a) {
      const int32_t kk = l_indices[a];
      for (int64_t b = b_indptr[kk]; b < b_indptr[kk + 1]; ++b) {
        const int32_t j = b_indices[b];
        if (mark[j] != i) {
          mark[j] = i;
          cols.push_back(j);
        }
      }
    }
    std::sort(cols.begin(), cols.end());
    const int64_t base = static_cast<int64_t>(out->c_indices.size());
    if (base + static_cast<int64_t>(cols.size()) > kMax) return "the product has more than 2^31 - 1 entries";
    count.assign(cols.size() + 1, 0);
    for (size_t t = 0; t < cols.size(); ++t) pos[cols[t]] = static_cast<int32_t>(t);
    for (int64_t a = l_indptr[i]; a < l_indptr[i + 1]; ++a) {
      const int32_t kk = l_indices[a];
      for (int64_t b = b_indptr[kk]; b < b_indptr[kk + 1]; ++b) ++count[pos[b_indices[b]] + 1];
    }
    for (size_t t = 0; t < cols.size(); ++t) count[t + 1] += count[t];
    const int64_t term0 = out->m_indptr.back();
    const int64_t terms = count[cols.size()];
    if (term0 + terms > kMax) return "the product map has more than 2^31 - 1 terms";
    out->m_indices.resize(static_cast<size_t>(term0 + terms));
    out->m_rows.resize(static_cast<size_t>(term0 + terms));
    out->m_data.resize(static_cast<size_t>(term0 + terms));
    for (int64_t a = l_indptr[i]; a < l_indptr[i + 1]; ++a) {
      const int32_t kk = l_indices[a];
      for (int64_t b = b_indptr[kk]; b < b_indptr[kk + 1]; ++b) {
        const int32_t local = pos[b_indices[b]];
        const int64_t at = term0 + count[local]++;
        out->m_rows[at] = static_cast<int32_t>(base + local);
        out->m_indices[at] = static_cast<int32_t>(variable_left ? a : b);
        out->m_data[at] = variable_left ? coeff[b] : coeff[a];
      }
    }
    for (size_t t = 0; t < cols.size(); ++t) {
      out->c_indices.push_back(cols[t]);
      out->m_indptr.push_back(term0 + count[t]);
    }
    out->c_indptr[i + 1] = base + static_cast<int64_t>(cols.size());
  }
  return "";
}

}  // namespace nativax::amg
