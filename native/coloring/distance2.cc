#include "coloring/distance2.h"

#include <algorithm>
#include <numeric>
#include <unordered_set>

namespace nativax::coloring {
namespace {

// The set of colors seen by each vertex. Bitsets of `words` 64-bit words per vertex, widened as colors grow;
// past a memory budget it switches to one hash set of (vertex, color) pairs, whose size is bounded by the
// work done.
class ColorSets {
 public:
  explicit ColorSets(int64_t n) : n_(n), bits_(n, 0) {}

  bool hashed() const { return use_hash_; }
  int64_t words() const { return words_; }
  const uint64_t* row(int64_t v) const { return &bits_[v * words_]; }
  uint64_t* data() { return bits_.data(); }
  // Makes room for colors up to c; false when the sets moved to the hash set instead.
  bool reserve(int64_t c) {
    if (!use_hash_ && c >= 64 * words_) widen(c);
    return !use_hash_;
  }

  // Adds color c to vertex v's set; returns false when it was already there.
  bool insert(int64_t v, int64_t c) {
    if (use_hash_) return hashed_.insert(static_cast<uint64_t>(v) * stride_ + c).second;
    if (c >= 64 * words_) widen(c);
    if (use_hash_) return insert(v, c);
    uint64_t& w = bits_[v * words_ + c / 64];
    const uint64_t bit = uint64_t{1} << (c % 64);
    if (w & bit) return false;
    w |= bit;
    return true;
  }

 private:
  void widen(int64_t c) {
    int64_t words = words_;
    while (c >= 64 * words) words *= 2;
    if (static_cast<double>(n_) * words * 8 > kMaxBytes) {  // move to the hash set
      for (int64_t v = 0; v < n_; ++v) {
        for (int64_t k = 0; k < 64 * words_; ++k) {
          if (bits_[v * words_ + k / 64] >> (k % 64) & 1) hashed_.insert(static_cast<uint64_t>(v) * stride_ + k);
        }
      }
      bits_.clear();
      bits_.shrink_to_fit();
      use_hash_ = true;
      return;
    }
    std::vector<uint64_t> wide(n_ * words, 0);
    for (int64_t v = 0; v < n_; ++v) std::copy_n(&bits_[v * words_], words_, &wide[v * words]);
    bits_.swap(wide);
    words_ = words;
  }

  static constexpr double kMaxBytes = 256.0 * 1024 * 1024;
  int64_t n_;
  int64_t words_ = 1;
  std::vector<uint64_t> bits_;
  bool use_hash_ = false;
  static constexpr uint64_t stride_ = uint64_t{1} << 32;  // colors < n < 2^31 fit below a vertex's slot
  std::unordered_set<uint64_t> hashed_;
};

// Lowest color in none of the bitsets `rows[0..count)` of `sets` (bitset mode).
template <typename It>
int32_t lowest_free_bits(const ColorSets& sets, It first, It last) {
  const int64_t words = sets.words();
  for (int64_t k = 0;; ++k) {
    uint64_t used = 0;
    if (k < words) {
      for (It r = first; r != last; ++r) used |= sets.row(*r)[k];
    }
    if (~used) return static_cast<int32_t>(64 * k + __builtin_ctzll(~used));
  }
}

// Lowest color not marked with `stamp` in `forbidden` (which grows as needed).
int32_t lowest_free(std::vector<int64_t>& forbidden, int64_t stamp) {
  size_t c = 0;
  while (c < forbidden.size() && forbidden[c] == stamp) ++c;
  if (c == forbidden.size()) forbidden.push_back(-1);
  return static_cast<int32_t>(c);
}

std::vector<int32_t> greedy(const Compressed& csc, const Compressed& csr, const std::vector<int64_t>& seq) {
  const int64_t n = csc.n_major;
  std::vector<int32_t> colors(n, -1);
  std::vector<int64_t> forbidden;
  ColorSets used(csc.n_minor);  // per row: the colors of its colored columns
  for (int64_t v : seq) {
    if (!used.hashed()) {
      // O(nnz of the column): the union of the row sets holds exactly the forbidden colors.
      const int32_t c = lowest_free_bits(used, csc.begin(v), csc.end(v));
      if (used.reserve(c)) {
        colors[v] = c;
        for (const int64_t* r = csc.begin(v); r != csc.end(v); ++r) used.insert(*r, c);
        continue;
      }
    }
    for (const int64_t* r = csc.begin(v); r != csc.end(v); ++r) {
      for (const int64_t* u = csr.begin(*r); u != csr.end(*r); ++u) {
        const int32_t c = colors[*u];
        if (c >= 0) {
          if (static_cast<size_t>(c) >= forbidden.size()) forbidden.resize(c + 1, -1);
          forbidden[c] = v;
        }
      }
    }
    colors[v] = lowest_free(forbidden, v);
  }
  return colors;
}

std::vector<int64_t> largest_first_order(const Compressed& csc, const Compressed& csr) {
  const int64_t n = csc.n_major;
  std::vector<int64_t> degree(n, 0), mark(n, -1);
  for (int64_t v = 0; v < n; ++v) {  // distinct columns sharing a row with v, v included
    for (const int64_t* r = csc.begin(v); r != csc.end(v); ++r) {
      for (const int64_t* u = csr.begin(*r); u != csr.end(*r); ++u) {
        if (mark[*u] != v) {
          mark[*u] = v;
          ++degree[v];
        }
      }
    }
  }
  std::vector<int64_t> seq(n);
  std::iota(seq.begin(), seq.end(), 0);
  std::stable_sort(seq.begin(), seq.end(), [&](int64_t a, int64_t b) { return degree[a] > degree[b]; });
  return seq;
}

std::vector<int32_t> dsatur(const Compressed& csc, const Compressed& csr) {
  const int64_t n = csc.n_major;
  std::vector<int32_t> colors(n, -1);
  std::vector<int64_t> sat(n, 0), forbidden;
  ColorSets seen(n);
  // stacks[s]: candidates with saturation s, last pushed on top; stale entries are skipped when popped.
  std::vector<std::vector<int64_t>> stacks(1);
  stacks[0].resize(n);
  for (int64_t k = 0; k < n; ++k) stacks[0][k] = n - 1 - k;
  int64_t top = 0;
  for (int64_t left = n; left > 0; --left) {
    int64_t v;
    while (true) {
      auto& stack = stacks[top];
      if (stack.empty()) {
        --top;
        continue;
      }
      v = stack.back();
      stack.pop_back();
      if (colors[v] < 0 && sat[v] == top) break;
    }
    // The lowest color none of v's distance-2 neighbors uses: v's own set in bitset mode.
    int32_t c;
    if (!seen.hashed()) {
      const int64_t self[1] = {v};
      c = lowest_free_bits(seen, self, self + 1);
    } else {
      for (const int64_t* r = csc.begin(v); r != csc.end(v); ++r) {
        for (const int64_t* u = csr.begin(*r); u != csr.end(*r); ++u) {
          const int32_t cu = colors[*u];
          if (cu >= 0) {
            if (static_cast<size_t>(cu) >= forbidden.size()) forbidden.resize(cu + 1, -1);
            forbidden[cu] = v;
          }
        }
      }
      c = lowest_free(forbidden, v);
    }
    colors[v] = c;
    if (seen.reserve(c)) {  // bitset fast path: test-and-set one bit per uncolored distance-2 neighbor
      uint64_t* bits = seen.data() + c / 64;
      const int64_t words = seen.words();
      const uint64_t bit = uint64_t{1} << (c % 64);
      for (const int64_t* r = csc.begin(v); r != csc.end(v); ++r) {
        for (const int64_t* u = csr.begin(*r); u != csr.end(*r); ++u) {
          uint64_t& w = bits[*u * words];
          if (colors[*u] >= 0 || (w & bit)) continue;
          w |= bit;
          const int64_t s = ++sat[*u];
          if (s == static_cast<int64_t>(stacks.size())) stacks.emplace_back();
          stacks[s].push_back(*u);
          top = std::max(top, s);
        }
      }
      continue;
    }
    for (const int64_t* r = csc.begin(v); r != csc.end(v); ++r) {
      for (const int64_t* u = csr.begin(*r); u != csr.end(*r); ++u) {
        if (colors[*u] >= 0 || !seen.insert(*u, c)) continue;
        const int64_t s = ++sat[*u];
        if (s == static_cast<int64_t>(stacks.size())) stacks.emplace_back();
        stacks[s].push_back(*u);
        top = std::max(top, s);
      }
    }
  }
  return colors;
}

}  // namespace

std::vector<int32_t> color_distance2(const Compressed& csc, const Compressed& csr, Order order) {
  switch (order) {
    case Order::kDsatur:
      return dsatur(csc, csr);
    case Order::kLargestFirst:
      return greedy(csc, csr, largest_first_order(csc, csr));
    case Order::kNatural:
    default: {
      std::vector<int64_t> seq(csc.n_major);
      std::iota(seq.begin(), seq.end(), 0);
      return greedy(csc, csr, seq);
    }
  }
}

}  // namespace nativax::coloring
