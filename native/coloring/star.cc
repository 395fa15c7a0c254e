#include "coloring/star.h"

#include "coloring/distance2.h"

#include <algorithm>
#include <numeric>

namespace nativax::coloring {
namespace {

// Per-color counters valid for one `stamp` at a time (reset in O(1) by changing the stamp).
struct StampedCounts {
  std::vector<int64_t> stamp;
  std::vector<int64_t> count;
  void ensure(int32_t c) {
    if (static_cast<size_t>(c) >= stamp.size()) {
      stamp.resize(c + 1, -1);
      count.resize(c + 1, 0);
    }
  }
  void add(int32_t c, int64_t s) {
    ensure(c);
    if (stamp[c] != s) {
      stamp[c] = s;
      count[c] = 0;
    }
    ++count[c];
  }
  int64_t get(int32_t c, int64_t s) const {
    return static_cast<size_t>(c) < stamp.size() && stamp[c] == s ? count[c] : 0;
  }
};

void forbid(std::vector<int64_t>& forbidden, int32_t c, int64_t stamp) {
  if (static_cast<size_t>(c) >= forbidden.size()) forbidden.resize(c + 1, -1);
  forbidden[c] = stamp;
}

// Whether x has a colored neighbor other than `skip` with color `c`.
bool has_neighbor_colored(const Compressed& g, const std::vector<int32_t>& colors, int64_t x, int64_t skip,
                          int32_t c) {
  for (const int32_t* y = g.begin(x); y != g.end(x); ++y) {
    if (*y != skip && colors[*y] == c) return true;
  }
  return false;
}

// Closed neighborhoods (each vertex joined to itself), so that a distance-2 column coloring of them is a
// distance-2 coloring of the graph.
Compressed with_self(const Compressed& g) {
  Compressed c;
  c.n_major = c.n_minor = g.n_major;
  c.own_ptr.resize(g.n_major + 1);
  c.own_idx.reserve(g.nnz() + g.n_major);
  c.own_ptr[0] = 0;
  for (int64_t v = 0; v < g.n_major; ++v) {
    const int32_t* w = g.begin(v);
    for (; w != g.end(v) && *w < v; ++w) c.own_idx.push_back(*w);
    c.own_idx.push_back(static_cast<int32_t>(v));
    for (; w != g.end(v); ++w) c.own_idx.push_back(*w);
    c.own_ptr[v + 1] = static_cast<int64_t>(c.own_idx.size());
  }
  c.adopt();
  return c;
}

int32_t count(const std::vector<int32_t>& colors) {
  int32_t k = 0;
  for (int32_t c : colors) k = std::max(k, c + 1);
  return k;
}

std::vector<int32_t> greedy_star(const Compressed& g, StarOrder order);

}  // namespace

std::vector<int32_t> color_star(const Compressed& g, StarOrder order) {
  if (order == StarOrder::kDistance2) {
    const Compressed c = with_self(g);
    return color_distance2(c, &c, Order::kDsatur);
  }
  if (order != StarOrder::kBest) return greedy_star(g, order);
  std::vector<int32_t> best = greedy_star(g, StarOrder::kNatural);
  for (StarOrder o : {StarOrder::kLargestFirst, StarOrder::kDistance2}) {
    std::vector<int32_t> c = color_star(g, o);
    if (count(c) < count(best)) best.swap(c);
  }
  return best;
}

namespace {

std::vector<int32_t> greedy_star(const Compressed& g, StarOrder order) {
  const int64_t n = g.n_major;
  std::vector<int64_t> seq(n);
  std::iota(seq.begin(), seq.end(), 0);
  if (order == StarOrder::kLargestFirst) {
    std::stable_sort(seq.begin(), seq.end(), [&](int64_t a, int64_t b) {
      return g.degree(a) > g.degree(b);
    });
  }
  std::vector<int32_t> colors(n, -1);
  std::vector<int64_t> forbidden;
  StampedCounts around;  // colors among v's colored neighbors
  for (int64_t v : seq) {
    for (const int32_t* w = g.begin(v); w != g.end(v); ++w) {
      if (colors[*w] >= 0) {
        forbid(forbidden, colors[*w], v);  // proper coloring
        around.add(colors[*w], v);
      }
    }
    for (const int32_t* w = g.begin(v); w != g.end(v); ++w) {
      const int32_t cw = colors[*w];
      if (cw < 0) continue;
      // v inside a path u - v - w - x: u and w share a color, so x must not take v's.
      const bool twice = around.get(cw, v) >= 2;
      for (const int32_t* x = g.begin(*w); x != g.end(*w); ++x) {
        const int32_t cx = colors[*x];
        if (*x == v || cx < 0) continue;
        // v at the end of a path v - w - x - y with color(y) == color(w).
        if (twice || has_neighbor_colored(g, colors, *x, *w, cw)) forbid(forbidden, cx, v);
      }
    }
    int32_t c = 0;
    while (static_cast<size_t>(c) < forbidden.size() && forbidden[c] == v) ++c;
    colors[v] = c;
  }
  return colors;
}

}  // namespace

std::string star_recovery(const Compressed& a, const Compressed& g, const int32_t* colors,
                          std::vector<int64_t>* positions) {
  const int64_t n = a.n_major;
  int32_t ncolors = 0;
  for (int64_t v = 0; v < n; ++v) {
    if (colors[v] < 0) return "`colors[" + std::to_string(v) + "]` = " + std::to_string(colors[v]) + " is negative";
    ncolors = std::max(ncolors, colors[v] + 1);
  }
  // unique[e] for the directed adjacency edge e = (v -> g.idx[e]): v has exactly one neighbor of that color.
  std::vector<uint8_t> unique(g.nnz());
  StampedCounts counts;
  for (int64_t v = 0; v < n; ++v) {
    for (const int32_t* w = g.begin(v); w != g.end(v); ++w) counts.add(colors[*w], v);
    for (int64_t e = g.ptr[v]; e < g.ptr[v + 1]; ++e) unique[e] = counts.get(colors[g.idx[e]], v) == 1;
  }
  auto edge = [&](int64_t from, int64_t to) {
    return std::lower_bound(g.begin(from), g.end(from), to) - g.idx;
  };
  positions->resize(a.nnz());
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t k = a.ptr[j]; k < a.ptr[j + 1]; ++k) {
      const int64_t i = a.idx[k];
      if (i == j) {
        (*positions)[k] = static_cast<int64_t>(colors[i]) * n + i;
        continue;
      }
      if (colors[i] == colors[j]) {
        return "not a proper coloring: entry (" + std::to_string(i) + ", " + std::to_string(j) +
               ") joins two vertices of color " + std::to_string(colors[i]);
      }
      const int64_t lo = std::min(i, j), hi = std::max(i, j);
      if (unique[edge(lo, hi)]) {
        (*positions)[k] = static_cast<int64_t>(colors[hi]) * n + lo;
      } else if (unique[edge(hi, lo)]) {
        (*positions)[k] = static_cast<int64_t>(colors[lo]) * n + hi;
      } else {
        return "not a star coloring: the edge (" + std::to_string(i) + ", " + std::to_string(j) +
               ") lies inside a two-colored path on four vertices";
      }
    }
  }
  return {};
}

}  // namespace nativax::coloring
