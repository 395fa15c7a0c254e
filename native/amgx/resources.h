// RAII owners of AmgX objects: each destroys its handle exactly once, in its destructor (move-only).
// A System (cache.h) declares them in creation order, so C++ destroys them in the reverse order AmgX needs:
// solver, vectors, matrix, resources, config.
#pragma once
#include <utility>

#include "amgx/api.h"

namespace nativax::amgx {

template <typename H>
class Owned {
 public:
  using Destroy = AMGX_RC (*)(H);
  Owned() = default;
  explicit Owned(Destroy destroy) : destroy_(destroy) {}
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& o) noexcept : h_(std::exchange(o.h_, nullptr)), destroy_(o.destroy_) {}
  Owned& operator=(Owned&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
      destroy_ = o.destroy_;
    }
    return *this;
  }
  ~Owned() { reset(); }

  void reset() {
    if (h_ != nullptr && destroy_ != nullptr) destroy_(h_);
    h_ = nullptr;
  }
  H get() const { return h_; }
  // For the create call: the previous handle (if any) is destroyed first.
  H* out() {
    reset();
    return &h_;
  }
  explicit operator bool() const { return h_ != nullptr; }

 private:
  H h_ = nullptr;
  Destroy destroy_ = nullptr;
};

using Config = Owned<AMGX_config_handle>;
using Resources = Owned<AMGX_resources_handle>;
using Matrix = Owned<AMGX_matrix_handle>;
using Vector = Owned<AMGX_vector_handle>;
using Solver = Owned<AMGX_solver_handle>;

}  // namespace nativax::amgx
