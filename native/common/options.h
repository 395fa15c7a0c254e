// Ordering and pivoting controls of a direct engine: part of the symbolic analysis (and so of the symbolic
// cache key; numeric factorizations are keyed on their analysis), so two solvers with different options never
// share a factorization. Each engine maps what it supports; Python (`_direct/options.py`) rejects the rest.
#pragma once
#include <cstdint>
#include <vector>

namespace nativax {

enum Ordering : int32_t {
  kOrderDefault = 0,  // the engine's nativax default
  kOrderNatural = 1,
  kOrderAmd = 2,
  kOrderColamd = 3,
  kOrderMetis = 4,
  kOrderNesdis = 5,
  kOrderGiven = 6,  // `perm`: a fill-reducing permutation given by the user
};

struct Options {
  int32_t ordering = kOrderDefault;
  double pivot_tol = -1.0;  // < 0: the engine's default
  int32_t scale = -1;       // < 0: default; 0 none, 1 sum, 2 max (row scaling)
  std::vector<int32_t> perm;  // with kOrderGiven: a permutation of 0..n-1 (validated by `valid_perm`)
  bool operator==(const Options&) const = default;
};

// Whether `perm` is a permutation of 0..n-1.
inline bool valid_perm(const std::vector<int32_t>& perm, int64_t n) {
  if (static_cast<int64_t>(perm.size()) != n) return false;
  std::vector<char> seen(perm.size(), 0);
  for (int32_t p : perm) {
    if (p < 0 || p >= n || seen[p]) return false;
    seen[p] = 1;
  }
  return true;
}

}  // namespace nativax
