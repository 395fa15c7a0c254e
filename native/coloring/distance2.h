// Greedy distance-2 coloring of the columns of a sparse matrix (columns sharing a row get different colors):
// the seeds of a compressed Jacobian, one JVP per color. Row coloring (one VJP per color) is the same
// algorithm on the transpose.
#pragma once

#include <cstdint>
#include <vector>

#include "coloring/graph.h"

namespace nativax::coloring {

enum class Order { kNatural, kLargestFirst, kDsatur };

// `csc`: the columns to color (major axis) with their rows; `csr`: its transpose. Returns one color in
// 0..k-1 per column. kNatural and kLargestFirst color in a fixed order (column index; distance-2 degree,
// descending, ties by index), taking the lowest color no column sharing a row uses. kDsatur picks next the
// uncolored column whose distance-2 neighbors already use the most distinct colors (ties: most recently
// saturated first, then lowest index).
std::vector<int32_t> color_distance2(const Compressed& csc, const Compressed& csr, Order order);

}  // namespace nativax::coloring
