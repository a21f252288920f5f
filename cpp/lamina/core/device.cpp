#include "lamina/core/device.h"

#include "lamina/core/error.h"

namespace lamina {

std::string Device::str() const {
  std::string name = type == DeviceType::CPU ? "cpu" : "cuda";
  return index >= 0 ? name + ":" + std::to_string(index) : name;
}

Device Device::parse(const std::string& spec) {
  std::string kind = spec.substr(0, spec.find(':'));
  Device d;
  if (kind == "cpu") d.type = DeviceType::CPU;
  else if (kind == "cuda") d.type = DeviceType::CUDA;
  else LAMINA_CHECK(false, "device: expected one of cpu, cuda device type at start of device string: ", spec);
  if (kind.size() < spec.size()) {
    std::string idx = spec.substr(kind.size() + 1);
    bool digits = !idx.empty() && idx.size() < 6 && idx.find_first_not_of("0123456789") == std::string::npos;
    LAMINA_CHECK(digits, "device: invalid device string: '", spec, "'");
    d.index = std::stoi(idx);
  }
  return d;
}

}  // namespace lamina
