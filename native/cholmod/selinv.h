// Gaussian-model operations on a CHOLMOD factorization P A P^T = L L^H: supernodal selected inversion (the
// entries of A^{-1} on the factor's pattern), solves with the factor's pieces (L, L^H, D, P), and rank-k
// update/downdate of a held factorization. Everything here reads the engine's `Numeric` and never changes it
// (an update builds a new one).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cholmod/engine.h"
#include "common/factorization.h"

namespace nativax::cholmod {

// The entries of A^{-1} that a caller asks for. `coo`: one per COO entry k of the pattern,
// (A^{-1})[rows[k], cols[k]] (conjugated when `transposed`: (A^{-1})[cols[k], rows[k]], the gradient of
// log det A wrt the COO values); `diag`: the n diagonal entries (real). Interleaved re/im when complex.
enum class Selection { kCoo, kCooTransposed, kDiag };

// Block Takahashi recurrences over the supernodes of `num`'s factor (a simplicial factor is first turned into
// one-column supernodes of a simplicial L L^H copy). Status code (kOk, kFailed).
int32_t selected_inverse(Numeric& num, Selection what, std::vector<double>* out);

// CHOLMOD's solve systems (the values of CHOLMOD_A ... CHOLMOD_Pt), and the sampling transform
// kSampleCov: x = P^T L^{-H} D^{-1/2} z (x ~ N(0, A^{-1}) when z ~ N(0, I)).
enum PieceSystem : int32_t {
  kSysA = 0, kSysLDLt = 1, kSysLD = 2, kSysDLt = 3, kSysL = 4, kSysLt = 5, kSysD = 6, kSysP = 7, kSysPt = 8,
  kSysSampleCov = 9,
};
constexpr int32_t kSysMax = kSysSampleCov;

// A Factorization whose `solve_inplace` applies one piece system of `num` (mode ignored; real or complex).
std::shared_ptr<Factorization> piece_view(std::shared_ptr<Numeric> num, int32_t system);

// A new factorization of A + sign C C^T (sign = +1 update, -1 downdate) from `num` (real only); C is n x k
// column-major dense in the original ordering. `num` is not changed. kNotPositiveDefinite when the result is
// not positive definite; -1 and *err for argument errors.
int32_t update_downdate(Numeric& num, const double* C, int64_t k, bool downdate, std::shared_ptr<Numeric>* out,
                        std::string* err);

}  // namespace nativax::cholmod
