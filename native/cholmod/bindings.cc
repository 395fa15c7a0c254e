#include "cholmod/bindings.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include "cholmod/engine.h"
#include "cholmod/selinv.h"
#include "common/bind_engine.h"
#include "common/engine.h"

namespace nativax::cholmod {

namespace nb = nanobind;
using namespace nb::literals;

// C as an n x k column-major (Fortran-ordered) real array.
using ColumnMajor = nb::ndarray<const double, nb::ndim<2>, nb::f_contig, nb::device::cpu>;

void bind_gaussian(nb::module_& m) {
  m.def(
      "cholmod_handle_logdet",
      [](int64_t id) {
        std::string err;
        auto num = get_numeric<Engine>(id, &err);
        if (!num) throw nb::value_error(("nativax: " + err).c_str());
        std::lock_guard<std::mutex> lock(num->mu);
        return num->logdet();
      },
      "id"_a);
  // A new handle for A + C C^T (or A - C C^T); the old handle stays valid and unchanged. An id (> 0), or
  // -status when the result is not positive definite.
  m.def(
      "cholmod_updown",
      [](int64_t id, ColumnMajor C, bool downdate) {
        std::string err;
        auto num = get_numeric<Engine>(id, &err);
        if (!num) throw nb::value_error(("nativax: " + err).c_str());
        if (static_cast<int64_t>(C.shape(0)) != num->pattern().n) {
          throw nb::value_error(("nativax: `C` must have n = " + std::to_string(num->pattern().n) + " rows").c_str());
        }
        std::shared_ptr<Numeric> out;
        int32_t st;
        {
          nb::gil_scoped_release release;
          st = update_downdate(*num, C.data(), static_cast<int64_t>(C.shape(1)), downdate, &out, &err);
        }
        if (st == -1) throw nb::value_error(("nativax: " + err).c_str());
        if (st != kOk) return -static_cast<int64_t>(st);
        return registry().insert(out, Engine::kNumericKind);
      },
      "id"_a, "C"_a, "downdate"_a);
}

}  // namespace nativax::cholmod
