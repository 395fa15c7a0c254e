#include "coloring/distance2.h"

#include <algorithm>
#include <numeric>
#include <memory>
#include <optional>
#include <unordered_set>

namespace nativax::coloring {
namespace {

constexpr uint64_t kAll = ~uint64_t{0};

// The transpose of `a`, borrowed when given, else built on first use.
class Transposed {
 public:
  Transposed(const Compressed& a, const Compressed* at) : a_(a), at_(at) {}
  const Compressed& get() {
    if (at_ == nullptr) {
      built_.emplace(transpose(a_));
      at_ = &*built_;
    }
    return *at_;
  }

 private:
  const Compressed& a_;
  const Compressed* at_;
  std::optional<Compressed> built_;
};

// ---------------------------------------------------------------- fast paths: fewer than 64 colors

// Greedy in the order `seq` with one color mask per row; false (colors unspecified) if it needs >= 64 colors.
bool greedy64(const Compressed& a, const std::vector<int32_t>* seq, std::vector<int32_t>& colors) {
  const int64_t n = a.n_major;
  std::vector<uint64_t> used(a.n_minor, 0);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t v = seq ? (*seq)[k] : k;
    uint64_t forbidden = 0;
    for (const int32_t* r = a.begin(v); r != a.end(v); ++r) forbidden |= used[*r];
    if (forbidden == kAll) return false;
    const uint64_t bit = ~forbidden & (forbidden + 1);
    colors[v] = __builtin_ctzll(bit);
    for (const int32_t* r = a.begin(v); r != a.end(v); ++r) used[*r] |= bit;
  }
  return true;
}

// The bucket queue of both DSATUR variants: stacks[s] holds candidates with saturation s, last pushed on top;
// stale entries (colored since, or saturation raised since) are skipped. Returns an uncolored vertex of the
// highest saturation, lowering `top` past empty stacks.
template <typename Sat, typename Top>
int32_t pop_most_saturated(std::vector<std::vector<int32_t>>& stacks, Top& top, const std::vector<int32_t>& colors,
                           const std::vector<Sat>& sat) {
  while (true) {
    auto& stack = stacks[top];
    if (stack.empty()) {
      --top;
      continue;
    }
    const int32_t v = stack.back();
    stack.pop_back();
    if (colors[v] < 0 && sat[v] == top) return v;
  }
}

// DSATUR with one mask per vertex of the colors its distance-2 neighbors use; a colored vertex's mask is all
// ones, so the update loop reads one word per neighbor. False if it needs >= 64 colors.
bool dsatur64(const Compressed& a, const Compressed& at, std::vector<int32_t>& colors) {
  const int64_t n = a.n_major;
  std::vector<uint64_t> seen(n, 0);
  std::vector<int32_t> sat(n, 0);
  // stacks[s]: candidates with saturation s, last pushed on top; stale entries are skipped when popped.
  std::vector<std::vector<int32_t>> stacks(65);
  stacks[0].resize(n);
  for (int64_t k = 0; k < n; ++k) stacks[0][k] = static_cast<int32_t>(n - 1 - k);
  int32_t top = 0;
  for (int64_t left = n; left > 0; --left) {
    const int32_t v = pop_most_saturated(stacks, top, colors, sat);
    const uint64_t forbidden = seen[v];
    if (forbidden == kAll) return false;
    const uint64_t bit = ~forbidden & (forbidden + 1);
    colors[v] = __builtin_ctzll(bit);
    seen[v] = kAll;
    for (const int32_t* r = a.begin(v); r != a.end(v); ++r) {
      for (const int32_t* u = at.begin(*r); u != at.end(*r); ++u) {
        const uint64_t w = seen[*u];
        if (w & bit) continue;  // colored, or already saw this color
        seen[*u] = w | bit;
        const int32_t s = ++sat[*u];
        stacks[s].push_back(*u);
        if (s > top) top = s;
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------- general paths: any number of colors

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

// Lowest color in none of the bitsets of the vertices [first, last) of `sets` (bitset mode).
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

// Marks with `v` every color used by a distance-2 neighbor of v (a forbidden-color array with a stamp).
void forbid_neighbors(const Compressed& a, const Compressed& at, const std::vector<int32_t>& colors, int64_t v,
                      std::vector<int64_t>& forbidden) {
  for (const int32_t* r = a.begin(v); r != a.end(v); ++r) {
    for (const int32_t* u = at.begin(*r); u != at.end(*r); ++u) {
      const int32_t c = colors[*u];
      if (c >= 0) {
        if (static_cast<size_t>(c) >= forbidden.size()) forbidden.resize(c + 1, -1);
        forbidden[c] = v;
      }
    }
  }
}

std::vector<int32_t> greedy(const Compressed& a, Transposed& at, const std::vector<int32_t>* seq) {
  const int64_t n = a.n_major;
  std::vector<int32_t> colors(n, -1);
  if (greedy64(a, seq, colors)) return colors;
  std::fill(colors.begin(), colors.end(), -1);
  std::vector<int64_t> forbidden;
  ColorSets used(a.n_minor);  // per row: the colors of its colored columns
  for (int64_t k = 0; k < n; ++k) {
    const int64_t v = seq ? (*seq)[k] : k;
    if (!used.hashed()) {
      // O(nnz of the column): the union of the row sets holds exactly the forbidden colors.
      const int32_t c = lowest_free_bits(used, a.begin(v), a.end(v));
      if (used.reserve(c)) {
        colors[v] = c;
        for (const int32_t* r = a.begin(v); r != a.end(v); ++r) used.insert(*r, c);
        continue;
      }
    }
    forbid_neighbors(a, at.get(), colors, v, forbidden);
    colors[v] = lowest_free(forbidden, v);
  }
  return colors;
}

std::vector<int32_t> largest_first_order(const Compressed& a, const Compressed& at) {
  const int64_t n = a.n_major;
  std::vector<int64_t> degree(n, 0);
  std::vector<int32_t> mark(n, -1);
  for (int64_t v = 0; v < n; ++v) {  // distinct columns sharing a row with v, v included
    for (const int32_t* r = a.begin(v); r != a.end(v); ++r) {
      for (const int32_t* u = at.begin(*r); u != at.end(*r); ++u) {
        if (mark[*u] != v) {
          mark[*u] = static_cast<int32_t>(v);
          ++degree[v];
        }
      }
    }
  }
  std::vector<int32_t> seq(n);
  std::iota(seq.begin(), seq.end(), 0);
  std::stable_sort(seq.begin(), seq.end(), [&](int32_t x, int32_t y) { return degree[x] > degree[y]; });
  return seq;
}

std::vector<int32_t> dsatur(const Compressed& a, const Compressed& at) {
  const int64_t n = a.n_major;
  std::vector<int32_t> colors(n, -1);
  if (dsatur64(a, at, colors)) return colors;
  std::fill(colors.begin(), colors.end(), -1);
  std::vector<int64_t> sat(n, 0), forbidden;
  ColorSets seen(n);
  std::vector<std::vector<int32_t>> stacks(1);
  stacks[0].resize(n);
  for (int64_t k = 0; k < n; ++k) stacks[0][k] = static_cast<int32_t>(n - 1 - k);
  int64_t top = 0;
  for (int64_t left = n; left > 0; --left) {
    const int32_t v = pop_most_saturated(stacks, top, colors, sat);
    // The lowest color none of v's distance-2 neighbors uses: v's own set in bitset mode.
    int32_t c;
    if (!seen.hashed()) {
      const int64_t self[1] = {v};
      c = lowest_free_bits(seen, self, self + 1);
    } else {
      forbid_neighbors(a, at, colors, v, forbidden);
      c = lowest_free(forbidden, v);
    }
    colors[v] = c;
    auto saturate = [&](int32_t u) {
      const int64_t s = ++sat[u];
      if (s == static_cast<int64_t>(stacks.size())) stacks.emplace_back();
      stacks[s].push_back(u);
      top = std::max(top, s);
    };
    if (seen.reserve(c)) {  // bitset path: test-and-set one bit per uncolored distance-2 neighbor
      uint64_t* bits = seen.data() + c / 64;
      const int64_t words = seen.words();
      const uint64_t bit = uint64_t{1} << (c % 64);
      for (const int32_t* r = a.begin(v); r != a.end(v); ++r) {
        for (const int32_t* u = at.begin(*r); u != at.end(*r); ++u) {
          uint64_t& w = bits[static_cast<int64_t>(*u) * words];
          if (colors[*u] >= 0 || (w & bit)) continue;
          w |= bit;
          saturate(*u);
        }
      }
      continue;
    }
    for (const int32_t* r = a.begin(v); r != a.end(v); ++r) {
      for (const int32_t* u = at.begin(*r); u != at.end(*r); ++u) {
        if (colors[*u] >= 0 || !seen.insert(*u, c)) continue;
        saturate(*u);
      }
    }
  }
  return colors;
}

}  // namespace

std::vector<int32_t> color_distance2(const Compressed& a, const Compressed* at, Order order) {
  Transposed t(a, at);
  switch (order) {
    case Order::kDsatur:
      return dsatur(a, t.get());
    case Order::kLargestFirst: {
      const std::vector<int32_t> seq = largest_first_order(a, t.get());
      return greedy(a, t, &seq);
    }
    case Order::kNatural:
    default:
      return greedy(a, t, nullptr);
  }
}

}  // namespace nativax::coloring
