// Matrix products, each followed by its backward node. Every product ends in `gemm_strided`,
// which hands (batch, m, k) @ (batch, k, n) views to the kernel table's gemm entry: batch dims are
// merged into one stride where the strides allow, folded into m when B is shared by every batch
// item, and looped over otherwise. Backward formulas call matmul itself, so create_graph works.
#include <algorithm>
#include <type_traits>

#include "lamina/ops/elementwise.h"
#include "lamina/ops/matmul.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

// The plain loop behind integer products (PyTorch supports them on CPU; the gemm entry is float
// only). One thread, k in order, so results never depend on the thread count.
template <class T>
void gemm_integral(const GemmArgs& g) {
  const T* A = static_cast<const T*>(g.a.data);
  const T* B = static_cast<const T*>(g.b.data);
  const T* bias = static_cast<const T*>(g.epilogue.bias);
  T* C = static_cast<T*>(g.c.data);
  // Unsigned arithmetic: products and sums wrap as in PyTorch (signed overflow would be undefined).
  using U = std::make_unsigned_t<T>;
  const U alpha = U(T(g.alpha)), beta = U(T(g.beta));
  for (int64_t bi = 0; bi < g.batch; ++bi)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        U acc = 0;
        const T* a = A + bi * g.a.batch + i * g.a.rows;
        const T* b = B + bi * g.b.batch + j * g.b.cols;
        for (int64_t p = 0; p < g.k; ++p) acc += U(a[p * g.a.cols]) * U(b[p * g.b.rows]);
        T* c = C + bi * g.c.batch + i * g.c.rows + j * g.c.cols;
        U v = alpha * acc;
        if (beta != 0) v += beta * U(*c);
        if (bias) v += U(bias[i * g.epilogue.bias_rows + j * g.epilogue.bias_cols]);
        *c = T(v);
      }
}

void run_gemm(const GemmArgs& g, Device device, const char* op) {
  if (g.dtype == DType::Int32) return gemm_integral<int32_t>(g);
  if (g.dtype == DType::Int64) return gemm_integral<int64_t>(g);
  LAMINA_KERNEL(device, gemm, op)(g);
}

struct BatchDim {
  int64_t size, a, b, c;
};

// c (contiguous, batch + (m, n)) = alpha * a @ b + beta * c + bias, where a is batch + (m, k), b is
// batch + (k, n) (broadcast dims have stride 0) and bias, if defined, is an (m, n) view.
void gemm_strided(const Tensor& c, const Tensor& a, const Tensor& b, double alpha, double beta, const Tensor& bias,
                  const char* op) {
  const int64_t nd = c.dim(), m = c.shape()[size_t(nd - 2)], n = c.shape()[size_t(nd - 1)];
  const int64_t k = a.shape()[size_t(nd - 1)];
  if (c.numel() == 0) return;
  std::vector<BatchDim> dims;
  for (int64_t d = 0; d < nd - 2; ++d) {
    size_t i = size_t(d);
    BatchDim cur{c.shape()[i], a.strides()[i], b.strides()[i], c.strides()[i]};
    if (cur.size == 1) continue;
    if (!dims.empty()) {
      BatchDim& prev = dims.back();
      if (prev.a == cur.a * cur.size && prev.b == cur.b * cur.size && prev.c == cur.c * cur.size) {
        prev = {prev.size * cur.size, cur.a, cur.b, cur.c};
        continue;
      }
    }
    dims.push_back(cur);
  }
  GemmArgs g;
  g.dtype = c.dtype();
  g.m = m, g.n = n, g.k = k, g.alpha = alpha, g.beta = beta;
  g.a = {nullptr, a.strides()[size_t(nd - 2)], a.strides()[size_t(nd - 1)], 0};
  g.b = {nullptr, b.strides()[size_t(nd - 2)], b.strides()[size_t(nd - 1)], 0};
  g.c = {nullptr, c.strides()[size_t(nd - 2)], c.strides()[size_t(nd - 1)], 0};
  if (bias.defined()) g.epilogue = {bias.raw_data(), bias.strides()[0], bias.strides()[1], Activation::None};
  if (!dims.empty()) {
    BatchDim inner = dims.back();
    dims.pop_back();
    bool a_rows_uniform = m == 1 || inner.a == m * g.a.rows;
    if (inner.b == 0 && a_rows_uniform && inner.c == m * g.c.rows && (!bias.defined() || g.epilogue.bias_rows == 0)) {
      // B is shared by the whole batch: one (batch * m, k) @ (k, n) product.
      if (m == 1) g.a.rows = inner.a, g.c.rows = inner.c;
      g.m = m * inner.size;
    } else {
      g.batch = inner.size, g.a.batch = inner.a, g.b.batch = inner.b, g.c.batch = inner.c;
    }
  }
  // Remaining outer batch dims (not mergeable with the inner one): loop, row-major.
  int64_t outer = 1;
  for (const BatchDim& d : dims) outer *= d.size;
  const int64_t isz = int64_t(c.itemsize());
  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t it = 0; it < outer; ++it) {
    int64_t oa = 0, ob = 0, oc = 0;
    for (size_t i = 0; i < dims.size(); ++i) {
      oa += idx[i] * dims[i].a;
      ob += idx[i] * dims[i].b;
      oc += idx[i] * dims[i].c;
    }
    g.a.data = a.raw_data() + oa * isz;
    g.b.data = b.raw_data() + ob * isz;
    g.c.data = c.raw_data() + oc * isz;
    run_gemm(g, c.device(), op);
    for (size_t i = dims.size(); i-- > 0;) {
      if (++idx[i] < dims[i].size) break;
      idx[i] = 0;
    }
  }
}

const char* dtype_label(DType d) { return elementwise::type_name(d); }

void check_operands(const Tensor& a, const Tensor& b, const char* op) {
  elementwise::check_same_device(a, b, op);
  LAMINA_CHECK(a.dtype() == b.dtype(), op, ": expected both operands to have the same dtype, but got ",
               dtype_label(a.dtype()), " and ", dtype_label(b.dtype()));
  DType d = a.dtype();
  if (d != DType::Float32 && d != DType::Float64 && d != DType::Int32 && d != DType::Int64)
    elementwise::fail_dtype(op, d);
}

// A view of v (n,) as a (1, n) row or (n, 1) column, no autograd.
Tensor as_row(const Tensor& v) { return make_view(v, {1, v.shape()[0]}, {0, v.strides()[0]}, v.offset()); }
Tensor as_col(const Tensor& v) { return make_view(v, {v.shape()[0], 1}, {v.strides()[0], 0}, v.offset()); }

// The shared forward: matmul semantics for a, b (dims >= 1, checked), plus an (m, n) bias view.
Tensor matmul_forward(const Tensor& a, const Tensor& b, const Tensor& bias, const char* op) {
  Tensor a2 = a.dim() == 1 ? as_row(a) : a, b2 = b.dim() == 1 ? as_col(b) : b;
  const int64_t m = a2.size(-2), k = a2.size(-1), k2 = b2.size(-2), n = b2.size(-1);
  LAMINA_CHECK(k == k2, op, ": shapes ", str(a.shape()), " and ", str(b.shape()), " cannot be multiplied (", k,
               " != ", k2, ")");
  Shape batch_a(a2.shape().begin(), a2.shape().end() - 2), batch_b(b2.shape().begin(), b2.shape().end() - 2);
  Shape batch = batch_a.size() >= batch_b.size() ? batch_a : batch_b;
  for (size_t i = 1; i <= std::min(batch_a.size(), batch_b.size()); ++i) {
    int64_t x = batch_a[batch_a.size() - i], y = batch_b[batch_b.size() - i];
    LAMINA_CHECK(x == y || x == 1 || y == 1, op, ": the batch dims of shapes ", str(a.shape()), " and ",
                 str(b.shape()), " cannot be broadcast");
    batch[batch.size() - i] = x == 1 ? y : x;
  }
  Shape out_shape = batch;
  if (a.dim() > 1) out_shape.push_back(m);
  if (b.dim() > 1) out_shape.push_back(n);
  Tensor out = make_tensor(out_shape, a.dtype(), a.device(), false, op);
  Shape full = batch;
  full.push_back(m);
  full.push_back(n);
  Tensor c = out.shape() == full ? out : make_view(out, full, contiguous_strides(full), out.offset());
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), {m, k});
  sb.insert(sb.end(), {k, n});
  gemm_strided(c, elementwise::expand_view(a2, sa), elementwise::expand_view(b2, sb), 1.0, 0.0, bias, op);
  return out;
}

// grad_fn of matmul, mm, bmm, dot and mv: the gradients are products with the other operand,
// summed over broadcast batch dims.
// t as a matrix of rows of its last dim: (product of the leading dims, last dim). reshape(-1, n)
// would be ambiguous (an error) when n is 0.
Tensor as_rows(const Tensor& t) {
  int64_t rows = 1;
  for (int64_t i = 0; i + 1 < t.dim(); ++i) rows *= t.shape()[size_t(i)];
  return reshape(t, {rows, t.size(-1)});
}

struct MatmulBackward : Node {
  SavedTensor a_, b_;  // each saved only when the other operand needs its gradient
  Shape a_shape, b_shape;
  const char* label = "MatmulBackward0";
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const bool a_vec = a_shape.size() == 1, b_vec = b_shape.size() == 1;
    Tensor g = grads[0];
    if (b_vec) g = unsqueeze(g, -1);
    if (a_vec) g = unsqueeze(g, -2);
    Shape a2_shape = a_vec ? Shape{1, a_shape[0]} : a_shape, b2_shape = b_vec ? Shape{b_shape[0], 1} : b_shape;
    Tensor ga, gb;
    if (needs_input_grad(0)) {
      Tensor b = unpack(b_), b2 = b_vec ? unsqueeze(b, -1) : b;
      ga = reshape(sum_to(matmul(g, mT(b2)), a2_shape), a_shape);
    }
    if (needs_input_grad(1)) {
      Tensor a = unpack(a_), a2 = a_vec ? unsqueeze(a, 0) : a;
      if (b2_shape.size() == 2 && g.dim() > 2) {
        // Shared B: one product over all batch rows instead of a batch of products then a sum.
        Shape full(g.shape().begin(), g.shape().end() - 1);
        full.push_back(a2.size(-1));
        Tensor af = as_rows(expand(a2, full)), gf = as_rows(g);
        gb = reshape(mm(t(af), gf), b_shape);
      } else {
        gb = reshape(sum_to(matmul(mT(a2), g), b2_shape), b_shape);
      }
    }
    return {ga, gb};
  }
};

Tensor record_matmul(Tensor out, const Tensor& a, const Tensor& b, const char* label) {
  if (!out.is_floating_point()) return out;
  if (auto node = autograd::make_node<MatmulBackward>(a, b)) {
    node->label = label;
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    if (node->needs_input_grad(1)) node->save(node->a_, a);
    if (node->needs_input_grad(0)) node->save(node->b_, b);
    autograd::set_history(out, node);
  }
  return out;
}

// PyTorch's names for the grad_fn of matmul by operand ranks.
const char* matmul_label(const Tensor& a, const Tensor& b) {
  if (a.dim() == 1 && b.dim() == 1) return "DotBackward0";
  if (a.dim() == 2 && b.dim() == 1) return "MvBackward0";
  if (a.dim() == 2 && b.dim() == 2) return "MmBackward0";
  return "MatmulBackward0";
}

void check_dims(const Tensor& t, int64_t dim, const char* op, const char* what) {
  LAMINA_CHECK(t.dim() == dim, op, ": expected ", what, " to be a ", dim, "-D tensor, but got a ", t.dim(),
               "-D tensor of shape ", str(t.shape()));
}

// beta/alpha of addmm and baddbmm as the gemm's doubles (integers reject float scalars).
double coefficient(Scalar s, DType dtype, const char* op, const char* what) {
  LAMINA_CHECK(is_floating_point(dtype) || !s.is_float(), op, ": for integral input tensors, argument ", what,
               " must not be a floating point number.");
  return s.to_double();
}

struct AddmmBackward : Node {
  SavedTensor m1_, m2_;
  Shape input_shape;
  Scalar alpha, beta;
  const char* label = "AddmmBackward0";
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    Tensor gi, g1, g2;
    auto scaled = [](const Tensor& t, Scalar s) { return s.to_double() == 1.0 ? t : t * s; };
    if (needs_input_grad(0)) gi = sum_to(scaled(g, beta), input_shape);
    if (needs_input_grad(1)) g1 = scaled(matmul(g, mT(unpack(m2_))), alpha);
    if (needs_input_grad(2)) g2 = scaled(matmul(mT(unpack(m1_)), g), alpha);
    return {gi, g1, g2};
  }
};

// addmm / baddbmm: c = beta * input + alpha * a @ b, with `input` fused as the gemm's bias when
// beta == 1 and it is the same for every batch item, else copied into c first.
Tensor add_product(const Tensor& input, const Tensor& a, const Tensor& b, Scalar beta, Scalar alpha,
                   const char* op, const char* label) {
  check_operands(a, b, op);
  check_operands(input, a, op);
  const bool batched = a.dim() == 3;
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  LAMINA_CHECK(k == b.size(-2), op, ": shapes ", str(a.shape()), " and ", str(b.shape()), " cannot be multiplied (", k,
               " != ", b.size(-2), ")");
  if (batched)
    LAMINA_CHECK(a.size(0) == b.size(0), op, ": batch sizes of ", str(a.shape()), " and ", str(b.shape()),
                 " must match");
  Shape shape = batched ? Shape{a.size(0), m, n} : Shape{m, n};
  LAMINA_CHECK(is_expandable_to(input.shape(), shape), op, ": input of shape ", str(input.shape()),
               " cannot be broadcast to the product's shape ", str(shape));
  const double be = coefficient(beta, a.dtype(), op, "beta"), al = coefficient(alpha, a.dtype(), op, "alpha");
  Tensor out = make_tensor(shape, a.dtype(), a.device(), false, op);
  Tensor inp = elementwise::expand_view(input, shape), bias;
  double gemm_beta = 0;
  if (be == 1.0 && (!batched || inp.strides()[0] == 0)) {
    bias = batched ? make_view(inp, {m, n}, {inp.strides()[1], inp.strides()[2]}, inp.offset()) : inp;
  } else if (be != 0.0) {
    copy_into(out, inp);
    gemm_beta = be;
  }
  gemm_strided(out, a, b, al, gemm_beta, bias, op);
  if (!out.is_floating_point()) return out;
  if (auto node = autograd::make_node<AddmmBackward>(input, a, b)) {
    node->input_shape = input.shape();
    node->alpha = alpha;
    node->beta = beta;
    node->label = label;
    if (node->needs_input_grad(2)) node->save(node->m1_, a);
    if (node->needs_input_grad(1)) node->save(node->m2_, b);
    autograd::set_history(out, node);
  }
  return out;
}

// linear with a 2-D weight: grad_x = g @ W, grad_W = g^T @ x and grad_b = the column sums of g,
// with leading dims flattened into rows.
struct LinearBackward : Node {
  SavedTensor x_, w_;  // x only for grad_W, W only for grad_x
  const char* label = "LinearBackward0";
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    Tensor gx, gw, gb;
    Tensor gf = as_rows(g);
    if (needs_input_grad(0)) gx = matmul(g, unpack(w_));
    if (needs_input_grad(1)) gw = mm(t(gf), as_rows(unpack(x_)));
    if (next_edges.size() == 2) return {gx, gw};
    if (needs_input_grad(2)) gb = sum_to(sum(gf, {0}), input_meta[2].shape);
    return {gx, gw, gb};
  }
};

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("matmul", a, b);
  LAMINA_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need to be at least 1-D, but got shapes ",
               str(a.shape()), " and ", str(b.shape()));
  check_operands(a, b, "matmul");
  return record_matmul(matmul_forward(a, b, Tensor(), "matmul"), a, b, matmul_label(a, b));
}

Tensor mm(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("mm", a, b);
  check_dims(a, 2, "mm", "self");
  check_dims(b, 2, "mm", "mat2");
  check_operands(a, b, "mm");
  return record_matmul(matmul_forward(a, b, Tensor(), "mm"), a, b, "MmBackward0");
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("bmm", a, b);
  check_dims(a, 3, "bmm", "self");
  check_dims(b, 3, "bmm", "mat2");
  check_operands(a, b, "bmm");
  LAMINA_CHECK(a.size(0) == b.size(0), "bmm: batch sizes of ", str(a.shape()), " and ", str(b.shape()),
               " must match");
  return record_matmul(matmul_forward(a, b, Tensor(), "bmm"), a, b, "BmmBackward0");
}

Tensor dot(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("dot", a, b);
  LAMINA_CHECK(a.dim() == 1 && b.dim() == 1, "dot: 1D tensors expected, but got shapes ", str(a.shape()), " and ",
               str(b.shape()));
  check_operands(a, b, "dot");
  LAMINA_CHECK(a.numel() == b.numel(), "dot: inconsistent tensor size, shapes ", str(a.shape()), " and ",
               str(b.shape()), " have different numbers of elements (", a.numel(), " != ", b.numel(), ")");
  return record_matmul(matmul_forward(a, b, Tensor(), "dot"), a, b, "DotBackward0");
}

Tensor mv(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("mv", a, b);
  LAMINA_CHECK(a.dim() == 2 && b.dim() == 1, "mv: expected a 2-D matrix and a 1-D vector, but got shapes ",
               str(a.shape()), " and ", str(b.shape()));
  check_operands(a, b, "mv");
  return record_matmul(matmul_forward(a, b, Tensor(), "mv"), a, b, "MvBackward0");
}

Tensor outer(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("outer", a, b);
  LAMINA_CHECK(a.dim() == 1 && b.dim() == 1, "outer: 1D tensors expected, but got shapes ", str(a.shape()), " and ",
               str(b.shape()));
  check_operands(a, b, "outer");
  // (n, 1) @ (1, m): the unsqueeze views carry the gradients back to the vectors.
  return mm(unsqueeze(a, 1), unsqueeze(b, 0));
}

Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2, Scalar beta, Scalar alpha) {
  LAMINA_PROFILE_OP("addmm", input, mat1, mat2);
  check_dims(mat1, 2, "addmm", "mat1");
  check_dims(mat2, 2, "addmm", "mat2");
  return add_product(input, mat1, mat2, beta, alpha, "addmm", "AddmmBackward0");
}

Tensor baddbmm(const Tensor& input, const Tensor& batch1, const Tensor& batch2, Scalar beta, Scalar alpha) {
  LAMINA_PROFILE_OP("baddbmm", input, batch1, batch2);
  check_dims(batch1, 3, "baddbmm", "batch1");
  check_dims(batch2, 3, "baddbmm", "batch2");
  return add_product(input, batch1, batch2, beta, alpha, "baddbmm", "BaddbmmBackward0");
}

// out + bias for a bias linear cannot fuse; PyTorch adds it in place, so it must not grow `out`.
static Tensor add_bias(const Tensor& out, const Tensor& bias) {
  LAMINA_CHECK(is_expandable_to(bias.shape(), out.shape()), "linear: bias of shape ", str(bias.shape()),
               " cannot be broadcast to the output of shape ", str(out.shape()));
  return out + bias;
}

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  LAMINA_PROFILE_OP("linear", input, weight, bias);
  LAMINA_CHECK(input.dim() >= 1 && weight.dim() >= 1, "linear: input and weight need to be at least 1-D, but got "
               "shapes ", str(input.shape()), " and ", str(weight.shape()));
  LAMINA_CHECK(weight.dim() <= 2, "linear: weight must be 1-D or 2-D (t() expects a tensor with <= 2 dimensions), ",
               "got weight of shape ", str(weight.shape()));
  if (weight.dim() == 1) {  // plain matmul semantics, unfused
    Tensor out = matmul(input, weight);
    return bias.defined() ? add_bias(out, bias) : out;
  }
  check_operands(input, weight, "linear");
  const int64_t out_features = weight.size(0);
  LAMINA_CHECK(input.size(-1) == weight.size(1), "linear: input ", str(input.shape()), " does not match weight ",
               str(weight.shape()), " (input has ", input.size(-1), " features, the weight expects ", weight.size(1), ")");
  Tensor bias_view;
  if (bias.defined()) {
    check_operands(input, bias, "linear");
    // Any other bias that expands to the output's shape is added after the product, as in PyTorch.
    if (!(bias.dim() <= 1 && (bias.numel() == out_features || bias.numel() == 1)))
      return add_bias(linear(input, weight, {}), bias);
    int64_t stride = bias.dim() == 1 && bias.numel() > 1 ? bias.strides()[0] : 0;
    bias_view = make_view(bias, {1, out_features}, {0, stride}, bias.offset());
  }
  Tensor wt = make_view(weight, {weight.size(1), out_features}, {weight.strides()[1], weight.strides()[0]},
                        weight.offset());
  Tensor out = matmul_forward(input, wt, bias_view, "linear");
  if (!out.is_floating_point()) return out;
  if (auto node = bias.defined() ? autograd::make_node<LinearBackward>(input, weight, bias)
                                 : autograd::make_node<LinearBackward>(input, weight)) {
    if (input.dim() == 2) node->label = bias.defined() ? "AddmmBackward0" : "MmBackward0";
    if (node->needs_input_grad(1)) node->save(node->x_, input);
    if (node->needs_input_grad(0)) node->save(node->w_, weight);
    autograd::set_history(out, node);
  }
  return out;
}

}  // namespace lamina
