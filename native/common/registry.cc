#include "common/registry.h"

namespace nativax {

const char* handle_kind_name(HandleKind kind) {
  switch (kind) {
    case HandleKind::kKluSymbolic:
      return "KLU symbolic analysis";
    case HandleKind::kKluNumeric:
      return "KLU numeric factorization";
    case HandleKind::kCholmodSymbolic:
      return "CHOLMOD symbolic analysis";
    case HandleKind::kCholmodNumeric:
      return "CHOLMOD numeric factorization";
    case HandleKind::kUmfpackSymbolic:
      return "UMFPACK symbolic analysis";
    case HandleKind::kUmfpackNumeric:
      return "UMFPACK numeric factorization";
  }
  return "unknown";
}

int64_t Registry::insert(std::shared_ptr<void> obj, HandleKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.obj = std::move(obj);
  s.kind = kind;
  return (static_cast<int64_t>(s.generation) << 32) | slot;
}

std::shared_ptr<void> Registry::get(int64_t id, HandleKind kind, std::string* err) const {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t slot = static_cast<uint32_t>(id & 0xFFFFFFFFll);
  uint32_t gen = static_cast<uint32_t>(id >> 32);
  if (id <= 0 || slot >= slots_.size()) {
    *err = "unknown handle id " + std::to_string(id);
    return nullptr;
  }
  const Slot& s = slots_[slot];
  if (s.generation != gen || !s.obj) {
    *err = std::string("the ") + handle_kind_name(kind) + " handle " + std::to_string(id) +
           " has been freed (closed, consumed by refactor, or released by nativax.finalize())";
    return nullptr;
  }
  if (s.kind != kind) {
    *err = std::string("handle ") + std::to_string(id) + " is a " + handle_kind_name(s.kind) +
           ", expected a " + handle_kind_name(kind);
    return nullptr;
  }
  return s.obj;
}

std::shared_ptr<void> Registry::release(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t slot = static_cast<uint32_t>(id & 0xFFFFFFFFll);
  uint32_t gen = static_cast<uint32_t>(id >> 32);
  if (id <= 0 || slot >= slots_.size()) return nullptr;
  Slot& s = slots_[slot];
  if (s.generation != gen || !s.obj) return nullptr;
  std::shared_ptr<void> out = std::move(s.obj);
  s.obj.reset();
  s.generation = (s.generation % 0x7FFFFFFFu) + 1;
  free_.push_back(slot);
  return out;
}

bool Registry::alive(int64_t id) const {
  std::string err;
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t slot = static_cast<uint32_t>(id & 0xFFFFFFFFll);
  uint32_t gen = static_cast<uint32_t>(id >> 32);
  return id > 0 && slot < slots_.size() && slots_[slot].generation == gen && slots_[slot].obj;
}

size_t Registry::live() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& s : slots_) n += s.obj ? 1 : 0;
  return n;
}

void Registry::clear() {
  std::vector<std::shared_ptr<void>> doomed;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      if (s.obj) {
        doomed.push_back(std::move(s.obj));
        s.obj.reset();
        s.generation = (s.generation % 0x7FFFFFFFu) + 1;
        free_.push_back(i);
      }
    }
  }
}

Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

}  // namespace nativax
