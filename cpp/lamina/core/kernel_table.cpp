#include "lamina/core/kernel_table.h"

namespace lamina {

static KernelTable g_tables[kNumDeviceTypes];

KernelTable& kernel_table(Device device) { return g_tables[int(device.type)]; }

}  // namespace lamina
