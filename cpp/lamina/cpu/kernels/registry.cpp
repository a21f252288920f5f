// The kernels this ISA provides, one register_<family> per kernel file. Data-movement kernels
// (index, sort) exist at the baseline only; higher levels keep the baseline's entries.
#include "lamina/core/kernel_table.h"

namespace lamina::cpu::LAMINA_ISA_NS {

void register_copy(KernelTable& table);
void register_unary(KernelTable& table);
void register_binary(KernelTable& table);
void register_reduce(KernelTable& table);
void register_random(KernelTable& table);
#if LAMINA_ISA_IS_BASELINE
void register_index(KernelTable& table);
void register_sort(KernelTable& table);
#endif
void register_gemm(KernelTable& table);
void register_optim(KernelTable& table);
void register_softmax(KernelTable& table);
void register_norm(KernelTable& table);
void register_dropout(KernelTable& table);
void register_pool(KernelTable& table);
void register_conv(KernelTable& table);
void register_attention(KernelTable& table);
void register_rnn(KernelTable& table);
void register_linalg(KernelTable& table);

void register_kernels(KernelTable& table) {
  register_copy(table);
  register_unary(table);
  register_binary(table);
  register_reduce(table);
  register_random(table);
#if LAMINA_ISA_IS_BASELINE
  register_index(table);
  register_sort(table);
#endif
  register_gemm(table);
  register_optim(table);
  register_softmax(table);
  register_norm(table);
  register_dropout(table);
  register_pool(table);
  register_conv(table);
  register_attention(table);
  register_rnn(table);
  register_linalg(table);
}

}  // namespace lamina::cpu::LAMINA_ISA_NS
