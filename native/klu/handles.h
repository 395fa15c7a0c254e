// User-held KLU handles: analyze/factor/refactor create registry entries that Python wraps in handle objects.
// Symbolic handles share the immutable analysis with the cache; numeric handles own a private factorization
// (never shared with the cache, because refactor rewrites it in place).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "klu/factorization.h"

namespace nativax::klu {

// Each returns a status (kOk, kSingular, ...); errors in arguments are reported through *err (status -1).
int32_t handle_analyze(int64_t n, const int32_t* rows, const int32_t* cols, int64_t nnz, int64_t* id,
                       std::string* err);
// `values` are COO values (length = the pattern's COO nnz), double or interleaved complex double.
int32_t handle_factor(int64_t symbolic_id, bool cplx, const double* values, int64_t nnz, int64_t* id,
                      std::string* err);
// Consumes `numeric_id` (it is freed) and returns the refactored factorization under a new id.
int32_t handle_refactor(int64_t numeric_id, const double* values, int64_t nnz, int64_t* id, std::string* err);

std::shared_ptr<Symbolic> get_symbolic(int64_t id, std::string* err);
std::shared_ptr<Numeric> get_numeric(int64_t id, std::string* err);

}  // namespace nativax::klu
