// Greedy distance-2 coloring of the columns of a sparse matrix (columns sharing a row get different colors):
// the seeds of a compressed Jacobian, one JVP per color. Row coloring (one VJP per color) is the same
// algorithm on the transpose.
#pragma once

#include <cstdint>
#include <vector>

#include "coloring/graph.h"

namespace nativax::coloring {

enum class Order { kNatural, kLargestFirst, kDsatur };

// `a`: the axis to color (major: CSC columns, or CSR rows) with its minor indices; `at`: its transpose, or
// nullptr to build it when needed (natural and largest-first orders with < 64 colors never need it).
// Returns one color in 0..k-1 per major index. kNatural and kLargestFirst color in a fixed order (index;
// distance-2 degree, descending, ties by index), taking the lowest color no column sharing a row uses.
// kDsatur picks next the uncolored column whose distance-2 neighbors already use the most distinct colors
// (ties: most recently saturated first, then lowest index).
//
// Colorings with < 64 colors (all stencils) run on one 64-bit color mask per vertex: a bucket queue of
// saturation stacks with lazy deletion, and the forbidden colors of a column the OR of its rows' masks.
// Beyond 64 colors the same orders run on widened bitsets (or hashed sets past a memory budget).
std::vector<int32_t> color_distance2(const Compressed& a, const Compressed* at, Order order);

}  // namespace nativax::coloring
