// Star coloring of a symmetric pattern (for compressed Hessians) and its direct recovery.
//
// A star coloring is a proper coloring of the adjacency graph in which every path on four vertices uses at
// least three colors (every two-colored subgraph is a union of stars). Then each off-diagonal H_ij can be
// read directly from the compressed product B = H S (S: one seed column per color): in a star, one of i, j
// is the only neighbor of its color adjacent to the other, so B[i, color(j)] = H_ij or B[j, color(i)] = H_ij.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coloring/graph.h"

namespace nativax::coloring {

enum class StarOrder { kNatural, kLargestFirst, kDistance2, kBest };

// Star coloring of the adjacency graph `g` (from `symmetric_adjacency`). kNatural, kLargestFirst: greedy,
// vertices by index or by degree (descending), each given the lowest color that keeps the coloring proper
// and creates no two-colored path on four colored vertices through it. kDistance2: a distance-2 coloring
// (DSATUR), which is a star coloring too and wins on some stencils (9-point). kBest: the fewest colors of
// the three (first one on ties).
std::vector<int32_t> color_star(const Compressed& g, StarOrder order);

// For every stored entry (row idx[k], column j) of the square pattern `a` (CSC), the position in the
// row-major compressed array B of shape (ncolors, n), B[c, i] = sum_{color(j) = c} H_ij, that holds H_ij.
// The same position is chosen for (i, j) and (j, i), so recovered values are exactly symmetric.
// Returns an empty string on success, else why `colors` is not a star coloring of `a`.
std::string star_recovery(const Compressed& a, const Compressed& g, const int32_t* colors,
                          std::vector<int64_t>* positions);

}  // namespace nativax::coloring
