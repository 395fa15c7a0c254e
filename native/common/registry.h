// Generation-checked registry of native objects handed to Python as integer ids.
// An id is (generation << 32 | slot). Freeing bumps the slot's generation, so a stale id can never reach
// freed memory: lookups fail with a clear message instead. All methods are thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace nativax {

enum class HandleKind : int {
  kKluSymbolic = 1,
  kKluNumeric = 2,
  kCholmodSymbolic = 3,
  kCholmodNumeric = 4,
  kUmfpackSymbolic = 5,
  kUmfpackNumeric = 6,
};

const char* handle_kind_name(HandleKind kind);

class Registry {
 public:
  int64_t insert(std::shared_ptr<void> obj, HandleKind kind);
  // Returns nullptr and fills *err when the id is unknown, freed, or of another kind.
  std::shared_ptr<void> get(int64_t id, HandleKind kind, std::string* err) const;
  // Removes the object and returns it (nullptr when already freed: double free is a no-op).
  std::shared_ptr<void> release(int64_t id);
  bool alive(int64_t id) const;
  size_t live() const;
  void clear();

 private:
  struct Slot {
    uint32_t generation = 1;
    HandleKind kind = HandleKind::kKluSymbolic;
    std::shared_ptr<void> obj;
  };
  mutable std::mutex mu_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

Registry& registry();

}  // namespace nativax
