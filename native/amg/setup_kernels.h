// Host AMG setup kernels (plain C++ on caller-owned arrays; no Python, no global state): standard aggregation
// and the "product map" of a sparse product with one fixed factor, used for the Galerkin products.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nativax::amg {

// Standard aggregation (the three passes of Vanek, Mandel and Brezina) on a square CSR strength graph whose
// stored off-diagonal entries are the strong connections (diagonal entries are ignored). Writes the aggregate
// of each node to `agg` (-1: isolated node, left out) and returns the number of aggregates.
int32_t standard_aggregation(int64_t n, const int64_t* indptr, const int32_t* indices, int32_t* agg);

// The product C = L B where exactly one factor varies: values(C) = M values(variable factor), M a sparse
// matrix with one row per stored entry of C whose entries are the fixed factor's values. L is m x k (CSR),
// B is k x n_cols (CSR); `coeff` holds the fixed factor's values (B's when `variable_left`, else L's).
// C's structure is the exact structural product (sorted columns, explicit zeros kept).
struct ProductMap {
  std::vector<int64_t> c_indptr;
  std::vector<int32_t> c_indices;
  std::vector<int64_t> m_indptr;  // rows: entries of C
  std::vector<int32_t> m_rows;     // row of each term (its entry of C), for segment sums
  std::vector<int32_t> m_indices;  // columns: entries of the variable factor
  std::vector<double> m_data;
};

// Returns an error message (empty on success): index out of range or sizes past int32 entries.
std::string product_map(int64_t m, const int64_t* l_indptr, const int32_t* l_indices, int64_t k,
                        const int64_t* b_indptr, const int32_t* b_indices, int64_t n_cols, const double* coeff,
                        bool variable_left, ProductMap* out);

}  // namespace nativax::amg
