// The per-device kernel table: ops validate their arguments, allocate outputs, then call through
// kernel_table(device). The CPU table is filled for the active ISA (cpu/register.cpp) and can be
// switched at runtime; a backend without a kernel leaves its entry null, and `kernel()` turns
// that into NotImplementedError("<op>: not implemented for cuda").
//
// Kernel contract: arguments are already checked, shapes agree (broadcast inputs arrive as
// expanded views), outputs are allocated. Kernels never throw.
#pragma once

#include <cstdint>

#include "lamina/core/error.h"
#include "lamina/core/scalar.h"
#include "lamina/core/tensor.h"

namespace lamina {

enum class UnaryOp : uint8_t {
  Neg, Abs, Sign, Exp, Log, Log1p, Expm1, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid, Relu, Gelu,
  GeluTanh, Silu, Softplus, Erf, Reciprocal, Square, Floor, Ceil, Round, Trunc, LogicalNot,
  BitwiseNot, IsNan, IsInf, IsFinite, Clamp, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh,
};

// Extra arguments of parameterised unary ops (softplus beta/threshold, clamp bounds).
struct UnaryParams {
  Scalar p0, p1;
  bool has_p0 = false, has_p1 = false;
};

enum class BinaryOp : uint8_t {
  Add, Sub, Mul, Div, FloorDivide, TruncDivide, Remainder, Fmod, Pow, Minimum, Maximum, Atan2,
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor, BitwiseAnd, BitwiseOr, BitwiseXor,
};

enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, All, Any };

enum class RandomOp : uint8_t { Uniform, Normal, Bernoulli, RandInt };

// ---- matrix products -------------------------------------------------------------------------
// A strided operand: element (i, j) of batch item b sits at data[b * batch + i * rows + j * cols]
// (strides in elements, any sign or zero, so transposes and broadcasts need no copies).
struct MatrixView {
  const void* data = nullptr;
  int64_t rows = 0, cols = 0, batch = 0;  // strides
};
struct MutMatrixView {
  void* data = nullptr;
  int64_t rows = 0, cols = 0, batch = 0;  // strides; C never aliases A, B or bias
};

enum class Activation : uint8_t { None, Relu, Gelu, GeluTanh };

// Applied to each output element as it is stored: c = act(c + bias[i * bias_rows + j * bias_cols]).
// bias == nullptr means no bias; it has the GEMM dtype and is the same for every batch item.
struct GemmEpilogue {
  const void* bias = nullptr;
  int64_t bias_rows = 0, bias_cols = 0;
  Activation act = Activation::None;
};

// C[b] = act(alpha * A[b] @ B[b] + beta * C[b] + bias) for b < batch; A is (m, k), B is (k, n),
// C is (m, n). dtype is Float32 or Float64 (all operands share it). beta == 0 never reads C (so
// NaN in uninitialised memory does not leak in); k == 0 gives beta * C + bias.
struct GemmArgs {
  DType dtype = DType::Float32;
  int64_t batch = 1, m = 0, n = 0, k = 0;
  double alpha = 1, beta = 0;
  MatrixView a, b;
  MutMatrixView c;
  GemmEpilogue epilogue;
  // B as gemm_pack_b laid it out, or null. Set, it replaces b (batch 1 only): products that reuse
  // one B many times (the recurrent weights of every time step) pack it once.
  const void* b_packed = nullptr;
};

struct FusedOptimArgs;  // optim/fused.h
// ---- pooling and resampling (ops/pool.cpp, ops/upsample.cpp) ----
// Window parameters of max/avg pooling over (H, W); a 1-d pool has H = kh = 1.
struct Pool2dParams {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  bool count_include_pad = true;
  int64_t divisor_override = 0;  // 0: none
};
// One axis of a separable resampling: output position o reads source positions i0[o], i1[o]
// with weights w0[o], w1[o]; w0 == nullptr means nearest (reads i0[o] with weight 1).
struct ResampleAxis {
  const int64_t* i0 = nullptr;
  const int64_t* i1 = nullptr;
  const double* w0 = nullptr;
  const double* w1 = nullptr;
};

// 2-D convolution geometry (ops/conv.cpp), NCHW, every buffer contiguous. y = conv(x, w) with
// x (batch, c_in, in_h, in_w), w (c_out, c_in / groups, k_h, k_w), y (batch, c_out, out_h, out_w):
// y[n, o, i, j] = sum_{c, a, b} x[n, g * c_in / groups + c, i * stride_h - pad_h + a * dil_h,
// j * stride_w - pad_w + b * dil_w] * w[o, c, a, b], g = o / (c_out / groups), positions outside x
// reading 0. out_h/out_w are given (not derived), so padding may be asymmetric ('same').
struct ConvArgs {
  DType dtype = DType::Float32;
  int64_t batch = 0, groups = 1, c_in = 0, in_h = 0, in_w = 0, c_out = 0, out_h = 0, out_w = 0;
  int64_t k_h = 1, k_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
};

// One time step of a recurrent layer (ops/rnn.cpp): G = 4 LSTM (i, f, g, o), 3 GRU (r, z, n), 1
// Elman RNN (tanh or relu), hidden size H, on `rows` rows; every matrix is contiguous row-major.
// xh (rows, I + P) holds each row's input then its previous state h; one product of xh with the
// packed [W_ih^T; W_hh^T] gives the pre-activations (GRU: n's input and state parts apart). Each
// thread owns whole blocks of hidden units and applies the gate math to its product tiles right
// away, so an element's bits depend on neither the thread count nor the blocks.
//   gates_out (rows, G H): the activations, saved for backward (GRU: r, z, n).
//   LSTM: c = f c_prev + i g, h = o tanh(c); c_prev / c (rows, H).
//   GRU: n = tanh(x W_in^T + b_in + r hn) with hn = h W_hn^T + b_hn (saved to hn),
//        h = (1 - z) n + z h_prev (P == H).
//   Elman: h = act(pre-activation).
// b_ih / b_hh are the biases (each may be null).
struct RnnStepArgs {
  DType dtype = DType::Float32;
  int64_t gates = 4, rows = 0, hidden = 0, input = 0, k = 0;  // k = input + P
  bool relu = false;
  const void* xh = nullptr;
  const void* w_packed = nullptr;  // rnn_pack_weights(backward = false)
  const void *b_ih = nullptr, *b_hh = nullptr;
  void* gates_out = nullptr;
  const void* c_prev = nullptr;
  void *c = nullptr, *hn = nullptr, *h = nullptr;  // h (rows, H)
  // The next step's arguments (or null): its rows are fetched into L2 during this step.
  const RnnStepArgs* next = nullptr;
};

// Backward of one time step, for the step processed before it in the forward direction of time:
// first the recurrent product of the step after it, dh[:rows_next] = dg_next (rows_next, G H) W_hh
// (GRU adds it to dh, which holds dh * z), then this step's gate grads on `rows` rows (may be 0):
// dh[:rows] += dout, and dgx (rows, G H) the grads of the gates' pre-activations (GRU: dgh those of
// the recurrent side, dh becomes dh * z); LSTM dc (grad of c) becomes the grad of c_prev.
// gates / c / c_prev / hn / h_prev / h are the forward's values of this step (h: Elman's output).
struct RnnStepBackwardArgs {
  DType dtype = DType::Float32;
  int64_t gates = 4, hidden = 0;
  bool relu = false;
  int64_t rows_next = 0;
  const void* dg_next = nullptr;
  const void* w_packed = nullptr;  // rnn_pack_weights(backward = true)
  int64_t rows = 0;
  const void *dout = nullptr, *gates_in = nullptr, *c = nullptr, *c_prev = nullptr, *hn = nullptr,
             *h_prev = nullptr, *h = nullptr;
  void *dh = nullptr, *dc = nullptr, *dgx = nullptr, *dgh = nullptr;
  const RnnStepBackwardArgs* next = nullptr;  // as RnnStepArgs::next
};

// Fused scaled-dot-product attention (ops/attention.cpp) over B batch items x H query heads. q is
// (B, H, L, E), k (B, Hk, S, E), v (B, Hk, S, Ev), each with element strides for (batch, head,
// row) and a contiguous last dim; query head h reads kv head h / (H / Hk). The optional mask
// (bool: keep where true; else the dtype's values added to the scores) is read at
// b * mask_strides[0] + h * [1] + i * [2] + j * [3] (zero strides broadcast). Dropout keeps score
// (b, h, i, j) unless word (n % 4) of Philox block first_block + n / 4 is below p * 2^32, where
// n = ((b * H + h) * L + i) * S + j, so forward and backward draw the same mask.
struct AttentionArgs {
  DType dtype = DType::Float32;
  int64_t batch = 0, heads = 0, kv_heads = 0, L = 0, S = 0, E = 0, Ev = 0;
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  int64_t q_strides[3] = {}, k_strides[3] = {}, v_strides[3] = {};
  const void* mask = nullptr;
  bool mask_is_bool = false;
  int64_t mask_strides[4] = {};
  bool causal = false;  // key j > query i is masked
  double scale = 1, dropout_p = 0;
  uint64_t seed = 0, first_block = 0;
  void* out = nullptr;  // (B, H, L, Ev) contiguous
  void* lse = nullptr;  // (B, H, L) contiguous: log-sum-exp of each row's scores (-inf when all masked)
};

// SVD (ops/linalg.cpp) of `batch` contiguous row-major (m, n) matrices a, k = min(m, n): s
// (batch, k) descending; with compute_uv, u (batch, m, full ? m : k) and vh (batch, full ? n : k,
// n), contiguous. info[b] = 1 when matrix b holds a NaN; its outputs, and those of a matrix with
// an infinity (info 0), are NaN.
struct SvdArgs {
  DType dtype = DType::Float32;
  int64_t batch = 0, m = 0, n = 0;
  bool full_matrices = false, compute_uv = true;
  const void* a = nullptr;
  void *u = nullptr, *s = nullptr, *vh = nullptr;
  int32_t* info = nullptr;
};

struct KernelTable {
  // ---- elementwise (ops/copy.cpp, unary.cpp, binary.cpp) ----
  void (*fill)(const Tensor& out, Scalar value) = nullptr;
  // Same shape, any dtypes and strides: out = cast(src).
  void (*copy)(const Tensor& out, const Tensor& src) = nullptr;
  // out and in have the same shape; in has the computation dtype; out has it or bool.
  void (*unary)(UnaryOp op, const Tensor& out, const Tensor& in, const UnaryParams& params) = nullptr;
  // a and b are expanded to out's shape and share the computation dtype; out has it or bool.
  void (*binary)(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = nullptr;
  void (*where)(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = nullptr;
  // out (contiguous) [i] = start + i * step, in int64 arithmetic for integer outputs.
  void (*arange)(const Tensor& out, Scalar start, Scalar step) = nullptr;
  // out (contiguous, n >= 2): start + i * step from the front half, end - (n-1-i) * step from
  // the back half, so both ends are exact.
  void (*linspace)(const Tensor& out, double start, double end) = nullptr;

  // ---- reductions (ops/reduce.cpp): `in` is 2-D (M, K), reduced along K into out (M,) ----
  void (*reduce)(ReduceOp op, const Tensor& out, const Tensor& in) = nullptr;
  // op is Max or Min; values may be undefined. First index wins ties; NaN wins over numbers.
  void (*arg_reduce)(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& in) = nullptr;
  // in and out are 3-D (outer, n, inner); out = running sum (op Sum) or product (op Prod) along n.
  void (*cumulative)(ReduceOp op, const Tensor& out, const Tensor& in) = nullptr;

  // ---- random (ops/random.cpp): element i uses Philox block first_block + i ----
  void (*random)(RandomOp op, const Tensor& out, uint64_t seed, uint64_t first_block, double a,
                 double b) = nullptr;

  // ---- indexing (ops/index.cpp, ops/scatter.cpp, ops/sort.cpp) ----
  // Gathers and puts go through a restrided view plus element offsets: out/dst, src/values and
  // offset (int64) share one shape; the view has stride 0 on the indexed dims, whose positions
  // are folded into offset (in elements, already wrapped and range-checked by the op).
  // out[p] = src[p + offset[p]].
  void (*index_gather)(const Tensor& out, const Tensor& src, const Tensor& offset) = nullptr;
  // dst[p + offset[p]] = values[p] (+= with accumulate). An element hit by several positions
  // receives them in row-major order of the positions, whatever the thread count.
  void (*index_put)(const Tensor& dst, const Tensor& values, const Tensor& offset, bool accumulate) = nullptr;
  // out (count, in.dim()), int64, contiguous: coordinates of the nonzero elements, row-major.
  void (*nonzero)(const Tensor& out, const Tensor& in) = nullptr;
  // in is 3-D (outer, n, inner), sorted along n into contiguous values/indices of that shape.
  // NaN sorts above every number; equal keys keep their input order (always stable).
  void (*sort)(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending) = nullptr;
  // The first k of each such row in that order: values/indices are (outer, k, inner).
  void (*topk)(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest) = nullptr;

  // ---- matrix products (ops/matmul.cpp, ops/conv.cpp) ----
  // Threads split the output into blocks, never the k loop: bits do not depend on the thread count.
  void (*gemm)(const GemmArgs& args) = nullptr;
  // Packs args.b (k x n) for GemmArgs::b_packed into dst and returns its element count (only the
  // count when dst is null). The layout belongs to the active ISA's GEMM.
  int64_t (*gemm_pack_b)(const GemmArgs& args, void* dst) = nullptr;

  // ---- optimizers (optim/fused.cpp): one update step over every tensor of a param group ----
  void (*fused_optim)(const FusedOptimArgs& args) = nullptr;
  // ---- nn (ops/softmax.cpp, norm.cpp, loss.cpp, dropout.cpp): contiguous float tensors ----
  // in/out (outer, n, inner): softmax (log_softmax when log) along n.
  void (*softmax)(const Tensor& out, const Tensor& in, bool log) = nullptr;
  // (outer, n, inner): grad_in = y (g - sum_n g y), or g - exp(y) sum_n g when log.
  void (*softmax_backward)(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) = nullptr;
  // Rows (M, K): out = (x - mean) * rstd * weight + bias; mean/rstd (M,); weight/bias (K,) or undefined.
  void (*layer_norm)(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in,
                     const Tensor& weight, const Tensor& bias, double eps) = nullptr;
  // Gradients of layer_norm; any of grad_in, grad_weight, grad_bias may be undefined (not wanted).
  void (*layer_norm_backward)(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_bias,
                              const Tensor& grad_out, const Tensor& in, const Tensor& mean, const Tensor& rstd,
                              const Tensor& weight) = nullptr;
  // in (N, C, S): per-channel mean and biased variance over N and S, (C,) each.
  void (*channel_stats)(const Tensor& mean, const Tensor& var, const Tensor& in) = nullptr;
  // (N, C, S): sum_g[c] = sum of g, sum_gx[c] = sum of g * (x - center[c]) over N and S.
  void (*channel_grad_sums)(const Tensor& sum_g, const Tensor& sum_gx, const Tensor& grad, const Tensor& in,
                            const Tensor& center) = nullptr;
  // (N, C, S): out = (a - center[c]) * sa[c] + b * sb[c] + shift[c]; center and b/sb may be
  // undefined. Centering before scaling keeps a - center exact where a is near it (a * sa - center
  // * sa would round each huge product first).
  void (*channel_affine)(const Tensor& out, const Tensor& a, const Tensor& sa, const Tensor& center, const Tensor& b,
                         const Tensor& sb, const Tensor& shift) = nullptr;
  // logits (N, C, S), target (N, S) int64 in range or == ignore_index, weight (C,) or undefined:
  // loss (N, S) = -(1 - ls) w[t] logp[t] - ls / C sum_c w[c] logp[c] (0 where ignored), lse (N, S).
  void (*cross_entropy)(const Tensor& loss, const Tensor& lse, const Tensor& in, const Tensor& target,
                        const Tensor& weight, int64_t ignore_index, double label_smoothing) = nullptr;
  // grad_in (N, C, S) of sum(grad * loss) with grad (N, S).
  void (*cross_entropy_backward)(const Tensor& grad_in, const Tensor& grad, const Tensor& in, const Tensor& lse,
                                 const Tensor& target, const Tensor& weight, int64_t ignore_index,
                                 double label_smoothing) = nullptr;
  // Element i keeps (mask = true) when word i % 4 of Philox block first_block + i / 4 is >= p * 2^32;
  // out = mask ? in * scale : 0. in/out/mask share a shape (mask bool).
  void (*dropout)(const Tensor& out, const Tensor& mask, const Tensor& in, double p, double scale, uint64_t seed,
                  uint64_t first_block) = nullptr;
  // ---- pooling and resampling (ops/pool.cpp, ops/upsample.cpp) ----
  // Contiguous float tensors (max_pool2d and avg_pool2d also int32/int64): inputs (P, H, W),
  // outputs (P, OH, OW), int64 indices (P, OH, OW)
  // holding h * W + w. Each thread owns whole planes, so backward sums come out in the same
  // order for any thread count. Backward kernels overwrite grad_in.
  void (*max_pool2d)(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dParams& p) = nullptr;
  void (*avg_pool2d)(const Tensor& out, const Tensor& in, const Pool2dParams& p) = nullptr;
  void (*avg_pool2d_backward)(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p) = nullptr;
  void (*adaptive_avg_pool2d)(const Tensor& out, const Tensor& in) = nullptr;
  void (*adaptive_avg_pool2d_backward)(const Tensor& grad_in, const Tensor& grad_out) = nullptr;
  void (*adaptive_max_pool2d)(const Tensor& out, const Tensor& indices, const Tensor& in) = nullptr;
  // grad_in[p, indices[p, j]] += grad_out[p, j], in order of j (max pools of any kind).
  void (*max_pool_backward)(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) = nullptr;
  // out[p, y, x] = sum of h.w[y] * w.w[x] * in[p, h.i[y], w.i[x]] over the two taps of each axis.
  void (*resample2d)(const Tensor& out, const Tensor& in, const ResampleAxis& h, const ResampleAxis& w) = nullptr;
  // Its adjoint: grad_in = sum of the weighted grad_out scattered back to the taps.
  void (*resample2d_backward)(const Tensor& grad_in, const Tensor& grad_out, const ResampleAxis& h,
                              const ResampleAxis& w) = nullptr;
  // ---- convolution (ops/conv.cpp; see ConvArgs). Bits never depend on the thread count ----
  // y = conv(x, w) + bias (bias (c_out,) or null).
  void (*conv2d)(const ConvArgs& a, const void* x, const void* w, const void* bias, void* y) = nullptr;
  // gx = the adjoint of conv in x applied to gy (conv_transpose2d without bias); overwrites gx.
  void (*conv2d_input_grad)(const ConvArgs& a, const void* gy, const void* w, void* gx) = nullptr;
  // gw = the adjoint of conv in w applied to (x, gy), summed over the batch; overwrites gw.
  void (*conv2d_weight_grad)(const ConvArgs& a, const void* x, const void* gy, void* gw) = nullptr;
  // F.unfold: col (batch, c_in * k_h * k_w, out_h * out_w) from x (groups and c_out unused).
  void (*im2col)(const ConvArgs& a, const void* x, void* col) = nullptr;
  // F.fold, the adjoint of im2col: x = the sum of col's windows; overwrites x.
  void (*col2im)(const ConvArgs& a, const void* col, void* x) = nullptr;
  // ---- attention (ops/attention.cpp; see AttentionArgs). Bits never depend on the thread count ----
  // Writes a.out and a.lse; no (L, S) buffer is formed.
  void (*attention)(const AttentionArgs& a) = nullptr;
  // From a.out and a.lse of the forward and grad_out (B, H, L, Ev) contiguous: overwrites grad_q
  // (B, H, L, E), grad_k (B, Hk, S, E) and grad_v (B, Hk, S, Ev), all contiguous.
  void (*attention_backward)(const AttentionArgs& a, const void* grad_out, void* grad_q, void* grad_k,
                             void* grad_v) = nullptr;
  // ---- recurrent (ops/rnn.cpp; see RnnStepArgs) ----
  // The weights packed for rnn_step (`backward` false: xh [W_ih^T; W_hh^T] with W_ih (G H, I) and
  // W_hh (G H, P)) or rnn_step_backward (true: dG W_hh, W_hh (G H, H); w_ih unused, I = 0).
  // Returns the element count; writes nothing when dst is null.
  int64_t (*rnn_pack_weights)(DType dt, int64_t gates, int64_t hidden, int64_t input, int64_t P, const void* w_ih,
                              const void* w_hh, bool backward, void* dst) = nullptr;
  void (*rnn_step)(const RnnStepArgs& a) = nullptr;
  void (*rnn_step_backward)(const RnnStepBackwardArgs& a) = nullptr;
  // LSTM gate grads of one step without the fused product (projections): dgates (rows, 4H)
  // pre-activation grads from dh and dc (grad of c from later steps; overwritten with the grad of
  // c_prev); gates hold the activations.
  void (*lstm_cell_backward)(DType dt, int64_t rows, int64_t H, const void* gates, const void* c,
                             const void* c_prev, const void* dh, void* dc, void* dgates) = nullptr;
  // ---- linear algebra (ops/linalg.cpp; see SvdArgs). One matrix per task ----
  void (*svd)(const SvdArgs& args) = nullptr;
};

// The active table for a device type.
KernelTable& kernel_table(Device device);

// The kernel pointer, or NotImplementedError naming the op and the device.
template <class Fn>
Fn kernel(Fn fn, const char* op, Device device) {
  if (!fn) throw NotImplementedError(detail::cat(op, ": not implemented for ", device.str()));
  return fn;
}
#define LAMINA_KERNEL(device, entry, op) ::lamina::kernel(::lamina::kernel_table(device).entry, op, device)

}  // namespace lamina
