// The singular value decomposition: linalg_svd / linalg_svdvals / legacy svd check their input,
// run the kernel on a contiguous (batch, m, n) copy and record LinalgSvdBackward0, written below
// with lamina ops (PyTorch's svd_backward: gauge-invariant for real inputs, assumes distinct
// singular values when U or Vh gets a gradient). Full matrices' extra columns of U and rows of Vh
// are arbitrary bases, so their gradients are ignored, as in PyTorch.
#include "lamina/ops/linalg.h"

#include <algorithm>
#include <vector>

#include "lamina/ops/elementwise.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

// True when g is undefined or all zeros: the engine hands zeros to outputs that got no gradient,
// and PyTorch's formula treats those as absent (their terms would be 0 / 0 for repeated values).
bool absent(const Tensor& g) {
  if (!g.defined() || g.numel() == 0) return true;
  autograd::GradModeGuard no_grad(false);
  Tensor nz = any(ne(g, wrapped_scalar(Scalar(0.0), g.device())));
  return !*nz.data<bool>();
}

// x diag(d) along the last dim (d broadcast over rows) and diag(d) x (over columns).
Tensor scale_cols(const Tensor& x, const Tensor& d) { return x * unsqueeze(d, -2); }
Tensor scale_rows(const Tensor& x, const Tensor& d) { return unsqueeze(d, -1) * x; }

// The gradient of A from those of U (m, k), S (k) and Vh (k, n), each possibly absent.
Tensor svd_backward(Tensor gU, Tensor gS, Tensor gVh, const Tensor& U, const Tensor& S, const Tensor& Vh) {
  const int64_t m = U.shape()[size_t(U.dim() - 2)], n = Vh.shape()[size_t(Vh.dim() - 1)];
  const int64_t k = S.shape().back();
  if (absent(gU)) gU = Tensor();
  if (absent(gVh)) gVh = Tensor();
  if (!gU.defined() && !gVh.defined()) {
    if (absent(gS)) return zeros(Shape(), {S.dtype(), S.device()});  // broadcast to A's shape below
    return m >= n ? matmul(U, scale_rows(Vh, gS)) : matmul(scale_cols(U, gS), Vh);
  }
  auto skew = [](const Tensor& x) { return x - mT(x); };
  Tensor S2 = S * S;
  // E[i, j] = S_j^2 - S_i^2 off the diagonal, 1 on it (its entries there divide zeros).
  Tensor E = unsqueeze(S2, -2) - unsqueeze(S2, -1) + eye(k, k, {S.dtype(), S.device()});
  Tensor inner;
  if (gU.defined() && gVh.defined()) {
    Tensor UhgU = skew(matmul(mT(U), gU)), VhgV = skew(matmul(Vh, mT(gVh)));
    inner = (scale_cols(UhgU, S) + scale_rows(VhgV, S)) / E;
  } else if (gU.defined()) {
    inner = scale_cols(skew(matmul(mT(U), gU)) / E, S);
  } else {
    inner = scale_rows(skew(matmul(Vh, mT(gVh))) / E, S);
  }
  if (!absent(gS)) inner = inner + unsqueeze(gS, -1) * eye(k, k, {S.dtype(), S.device()});
  if (m > n && gU.defined()) {  // gA = [U inner + (I - U U^T) gU S^-1] Vh
    Tensor gUSinv = gU / unsqueeze(S, -2);
    Tensor gA = matmul(U, inner) + gUSinv - matmul(U, matmul(mT(U), gUSinv));
    return matmul(gA, Vh);
  }
  if (m < n && gVh.defined()) {  // gA = U [inner Vh + S^-1 gVh (I - V Vh)]
    Tensor SinvgVh = gVh / unsqueeze(S, -1);
    Tensor gA = matmul(inner, Vh) + SinvgVh - matmul(matmul(SinvgVh, mT(Vh)), Vh);
    return matmul(U, gA);
  }
  return m >= n ? matmul(U, matmul(inner, Vh)) : matmul(matmul(U, inner), Vh);
}

// Outputs U, S, Vh, saved as such (svdvals returns only S, but U and Vh stay outputs of the node
// so that the backward, which uses them, is differentiable again).
struct LinalgSvdBackward : Node {
  SavedTensor U_, S_, Vh_;
  bool full = false;
  int64_t k = 0;
  std::string name() const override { return "LinalgSvdBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor U = unpack(U_), S = unpack(S_), Vh = unpack(Vh_);
    Tensor gU = grads[0], gS = grads[1], gVh = grads[2];
    if (full) {  // only the first k columns of U and rows of Vh are determined by A
      U = narrow(U, -1, 0, k), Vh = narrow(Vh, -2, 0, k);
      if (gU.defined()) gU = narrow(gU, -1, 0, k);
      if (gVh.defined()) gVh = narrow(gVh, -2, 0, k);
    }
    Tensor gA = svd_backward(gU, gS, gVh, U, S, Vh);
    if (gA.shape() != input_meta[0].shape) gA = gA + zeros(input_meta[0].shape, {gA.dtype(), gA.device()});
    return {gA};
  }
};

void check_input(const Tensor& a, const char* op) {
  LAMINA_CHECK(a.dim() >= 2, op, ": The input tensor A must have at least 2 dimensions (got shape ",
               shape_string(a.shape()), ")");
  LAMINA_CHECK(a.dtype() == DType::Float32 || a.dtype() == DType::Float64, op,
               ": Expected a floating point tensor as input. Got ", elementwise::type_name(a.dtype()),
               " (shape ", shape_string(a.shape()), ")");
}

// The factorisation itself: U/Vh undefined unless compute_uv; records the backward node (which
// needs U and Vh, so only with compute_uv).
std::tuple<Tensor, Tensor, Tensor> svd_impl(const Tensor& a, bool full, bool compute_uv) {
  const char* op = "linalg.svd";
  check_input(a, op);
  const Shape& shape = a.shape();
  const int64_t m = shape[shape.size() - 2], n = shape[shape.size() - 1], k = std::min(m, n);
  Shape batch_shape(shape.begin(), shape.end() - 2);
  int64_t batch = 1;
  for (int64_t d : batch_shape) batch *= d;
  auto with = [&](std::initializer_list<int64_t> tail) {
    Shape s = batch_shape;
    s.insert(s.end(), tail);
    return s;
  };
  Tensor S = make_tensor(with({k}), a.dtype(), a.device(), false, op);
  Tensor U, Vh;
  if (compute_uv) {
    U = make_tensor(with({m, full ? m : k}), a.dtype(), a.device(), false, op);
    Vh = make_tensor(with({full ? n : k, n}), a.dtype(), a.device(), false, op);
  }
  bool any_output = S.numel() > 0 || (compute_uv && (U.numel() > 0 || Vh.numel() > 0));
  if (batch > 0 && any_output) {
    auto kernel = LAMINA_KERNEL(a.device(), svd, op);
    Tensor in;
    {
      autograd::GradModeGuard no_grad(false);
      in = contiguous(detach(a));
    }
    std::vector<int32_t> info(size_t(batch), 0);
    SvdArgs args;
    args.dtype = a.dtype();
    args.batch = batch, args.m = m, args.n = n;
    args.full_matrices = full, args.compute_uv = compute_uv;
    args.a = in.raw_data(), args.s = S.raw_data();
    args.u = compute_uv ? U.raw_data() : nullptr;
    args.vh = compute_uv ? Vh.raw_data() : nullptr;
    args.info = info.data();
    kernel(args);
    for (int64_t b = 0; b < batch; ++b) {
      if (!info[size_t(b)]) continue;
      std::string where = a.dim() > 2 ? detail::cat("(Batch element ", b, "): ") : std::string();
      throw LinAlgError(detail::cat(op, ": ", where, "The algorithm failed to converge because the input matrix "
                                                    "contained non-finite values."));
    }
  }
  if (compute_uv) {
    if (auto node = autograd::make_node<LinalgSvdBackward>(a)) {
      node->full = full, node->k = k;
      autograd::set_history(U, node);
      autograd::set_history(S, node);
      autograd::set_history(Vh, node);
      node->save(node->U_, U, true);
      node->save(node->S_, S, true);
      node->save(node->Vh_, Vh, true);
    }
  }
  return {U, S, Vh};
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor> linalg_svd(const Tensor& a, bool full_matrices) {
  return svd_impl(a, full_matrices, true);
}

Tensor linalg_svdvals(const Tensor& a) {
  // The vectors are computed only when a gradient may be asked for (the backward needs them).
  return std::get<1>(svd_impl(a, false, autograd::needs_grad(a)));
}

std::tuple<Tensor, Tensor, Tensor> svd(const Tensor& a, bool some, bool compute_uv) {
  check_input(a, "linalg.svd");
  if (!compute_uv) {  // PyTorch: zero U (m, m) and V (n, n) that need no grad
    const Shape& shape = a.shape();
    Shape ushape(shape.begin(), shape.end() - 1), vshape(shape.begin(), shape.end() - 2);
    ushape.push_back(shape[shape.size() - 2]);
    vshape.push_back(shape.back()), vshape.push_back(shape.back());
    Tensor S = linalg_svdvals(a);
    return {zeros(ushape, {a.dtype(), a.device()}), S, zeros(vshape, {a.dtype(), a.device()})};
  }
  auto [U, S, Vh] = linalg_svd(a, !some);
  return {U, S, mT(Vh)};
}

}  // namespace lamina
