// Where a tensor's memory lives. Every op dispatches on Device through kernel_table(), so a new
// backend adds a table, not op code.
#pragma once

#include <cstdint>
#include <string>

namespace lamina {

enum class DeviceType : uint8_t { CPU, CUDA };
constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = -1;  // -1: the current device of that type

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;          // "cpu", "cuda:0"
  static Device parse(const std::string& spec);  // ValueError on a bad spec
};

}  // namespace lamina
