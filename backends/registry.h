// The only place that knows every backend. Each backend folder exposes one function
// `void register_<folder>(Registry&)`; registry.cpp calls those that were built.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace sdpa {

using BackendFactory = std::function<std::unique_ptr<Backend>(const BackendOptions&)>;

struct BackendEntry {
  std::string name;
  BackendFactory make;
  // Empty for an implementation in its own right; else the backend this one pins a code path of
  // (blocked_cpu_avx2 -> blocked_cpu, vulkan_scalar -> vulkan). Variants are tested everywhere
  // but left out of a default run, which measures one backend per implementation and device.
  std::string variant_of;
};

// A backend folder that was not compiled into this binary, and why.
struct MissingBackend {
  std::string name;
  std::string reason;
};

class Registry {
 public:
  void add(std::string name, BackendFactory make) { entries_.push_back({std::move(name), std::move(make), {}}); }
  void add_variant(std::string name, std::string variant_of, BackendFactory make) {
    entries_.push_back({std::move(name), std::move(make), std::move(variant_of)});
  }
  void add_missing(std::string name, std::string reason) {
    missing_.push_back({std::move(name), std::move(reason)});
  }
  const std::vector<BackendEntry>& entries() const { return entries_; }
  const std::vector<MissingBackend>& missing() const { return missing_; }
  const BackendEntry* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::vector<BackendEntry> entries_;
  std::vector<MissingBackend> missing_;
};

// Every backend of this build, registered once.
const Registry& registry();

// Registrations added before the registry is first used, by code linked into a test build only
// (backends/testing): the production binary has none.
std::vector<std::function<void(Registry&)>>& extra_backend_registrations();

}  // namespace sdpa
