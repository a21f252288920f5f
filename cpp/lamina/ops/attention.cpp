// scaled_dot_product_attention with PyTorch's semantics on the fused kernel (cpu/kernels/
// attention.cpp). query (..., L, E), key (..., S, E), value (..., S, Ev): the batch dims broadcast,
// and with enable_gqa key/value may have fewer heads (dim -3) than the query. Operands reach the
// kernel as (batch, head, row) strided views, copied only when a view cannot be described that
// way; the mask stays a broadcast view, so nothing of size L x S is allocated. The backward
// recomputes the scores from the saved log-sum-exp and is first-order only (create_graph raises,
// as for PyTorch's fused kernels).
#include <cmath>

#include "lamina/ops/elementwise.h"
#include "lamina/ops/nn.h"
#include "lamina/ops/nn_common.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

// Element strides of t (lead..., heads, rows, cols) as (lead flattened, heads, rows, cols), or
// false when the lead dims do not flatten to one stride or (unit_last) the last dim is strided.
bool strides4(const Tensor& t, size_t nlead, bool unit_last, int64_t (&out)[4]) {
  const Shape& sh = t.shape();
  const Strides& st = t.strides();
  const size_t n = sh.size();
  if (unit_last && sh[n - 1] > 1 && st[n - 1] != 1) return false;
  int64_t lead = 0, expect = -1;  // walking the lead dims from the innermost
  for (size_t i = nlead; i-- > 0;) {
    if (sh[i] == 1) continue;
    if (expect >= 0 && st[i] != expect) return false;
    if (expect < 0) lead = st[i];
    expect = st[i] * sh[i];
  }
  out[0] = lead, out[1] = st[n - 3], out[2] = st[n - 2], out[3] = st[n - 1];
  return true;
}

// t (without autograd) broadcast to `full` as a 4-d strided operand. A copy of t itself when that
// makes the view describable, else (rare: several lead dims broadcast unevenly) of the broadcast.
Tensor operand(const Tensor& t, const Shape& full, size_t nlead, bool unit_last, int64_t (&strides)[4]) {
  Tensor v = elementwise::expand_view(t, full);
  if (strides4(v, nlead, unit_last, strides)) return v;
  v = elementwise::expand_view(contiguous(t), full);
  if (strides4(v, nlead, unit_last, strides)) return v;
  v = contiguous(v);
  strides4(v, nlead, unit_last, strides);
  return v;
}

struct AttentionBackward : Node {
  SavedTensor q_, k_, v_, out_;
  Tensor lse_, mask_;                 // mask_: the broadcast view the forward read
  Shape q_shape, k_shape, v_shape;    // the inputs' own shapes (for sum_to)
  Shape q_full, kv_full, v_full;      // the broadcast operand shapes
  AttentionArgs args;                 // pointers refreshed in apply
  size_t nlead = 0;
  std::string name() const override { return "ScaledDotProductFlashAttentionForCpuBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    LAMINA_CHECK(!autograd::GradMode::is_enabled(), kOp,
                 ": double backward is not supported by the fused attention kernel (create_graph=True)");
    Tensor q = unpack(q_), k = unpack(k_), v = unpack(v_), out = unpack(out_);
    AttentionArgs a = args;
    int64_t qs[4], ks[4], vs[4];
    Tensor qo = operand(q, q_full, nlead, true, qs), ko = operand(k, kv_full, nlead, true, ks);
    Tensor vo = operand(v, v_full, nlead, true, vs);
    a.q = qo.raw_data(), a.k = ko.raw_data(), a.v = vo.raw_data();
    std::copy(qs, qs + 3, a.q_strides), std::copy(ks, ks + 3, a.k_strides), std::copy(vs, vs + 3, a.v_strides);
    a.mask = mask_.defined() ? mask_.raw_data() : nullptr;
    a.out = out.raw_data(), a.lse = lse_.raw_data();
    Tensor go = nn_detail::dense(grads[0], q.dtype());
    Tensor gq = make_tensor(q_full, q.dtype(), q.device()), gk = make_tensor(kv_full, q.dtype(), q.device());
    Tensor gv = make_tensor(v_full, q.dtype(), q.device());
    LAMINA_KERNEL(q.device(), attention_backward, kOp)(a, go.raw_data(), gq.raw_data(), gk.raw_data(), gv.raw_data());
    return {needs_input_grad(0) ? sum_to(gq, q_shape) : Tensor(), needs_input_grad(1) ? sum_to(gk, k_shape) : Tensor(),
            needs_input_grad(2) ? sum_to(gv, v_shape) : Tensor()};
  }
};

Shape cat_shape(Shape a, std::initializer_list<int64_t> tail) {
  a.insert(a.end(), tail);
  return a;
}
Shape prefix(const Shape& s, size_t drop) { return Shape(s.begin(), s.end() - int64_t(drop)); }

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale, bool enable_gqa, Generator* gen) {
  LAMINA_PROFILE_OP("scaled_dot_product_attention", query, key, value, attn_mask);
  LAMINA_CHECK(query.dim() >= 2 && key.dim() >= 2 && value.dim() >= 2, kOp,
               ": expected query, key and value with at least 2 dims, got shapes ", str(query.shape()), ", ",
               str(key.shape()), " and ", str(value.shape()));
  LAMINA_CHECK(query.dtype() == key.dtype() && query.dtype() == value.dtype(), kOp,
               ": expected query, key and value to have the same dtype, got ", dtype_name(query.dtype()), ", ",
               dtype_name(key.dtype()), " and ", dtype_name(value.dtype()));
  if (query.dtype() != DType::Float32 && query.dtype() != DType::Float64) elementwise::fail_dtype(kOp, query.dtype());
  elementwise::check_same_device(query, key, kOp);
  elementwise::check_same_device(query, value, kOp);
  const Shape &qsh = query.shape(), &ksh = key.shape(), &vsh = value.shape();
  const int64_t E = qsh.back(), S = ksh[ksh.size() - 2], Ev = vsh.back();
  LAMINA_CHECK(ksh.back() == E, kOp, ": query ", str(qsh), " and key ", str(ksh), " must have the same last dim");
  LAMINA_CHECK(vsh[vsh.size() - 2] == S, kOp, ": key ", str(ksh), " and value ", str(vsh),
               " must have the same number of keys (dim -2)");
  LAMINA_CHECK_VALUE(dropout_p >= 0 && dropout_p <= 1, kOp, ": dropout_p has to be between 0 and 1, but got ",
                     dropout_p);
  LAMINA_CHECK(!(is_causal && attn_mask.defined()), kOp,
               ": explicit attn_mask should not be set when is_causal=True");
  const int64_t Lq = qsh[qsh.size() - 2];

  // The broadcast batch: (lead..., heads); key/value may have fewer heads under GQA.
  Shape lead;
  int64_t H = 1, Hk = 1;
  LAMINA_CHECK_INDEX(!enable_gqa || (query.dim() >= 3 && key.dim() >= 3 && value.dim() >= 3), kOp,
                     ": enable_gqa needs a heads dim (-3) in query, key and value, got shapes ", str(qsh), ", ",
                     str(ksh), " and ", str(vsh));
  if (enable_gqa) {  // PyTorch's rule: each of key's and value's head counts divides the query's
    const int64_t hq = qsh[qsh.size() - 3], hk = ksh[ksh.size() - 3], hv = vsh[vsh.size() - 3];
    LAMINA_CHECK(hk > 0 && hv > 0 && hq % hk == 0 && hq % hv == 0, kOp,
                 ": number of heads in key and value must divide the number of heads in query, got query ",
                 str(qsh), ", key ", str(ksh), " and value ", str(vsh));
    if (hk != hv) {  // rare: give both the query's heads (copies, differentiable) and share nothing
      auto repeat = [&](const Tensor& t, int64_t h) {
        Shape grouped = t.shape(), full = t.shape();
        grouped.insert(grouped.end() - 2, hq / h);
        full[full.size() - 3] = hq;
        return reshape(expand(unsqueeze(t, t.dim() - 2), grouped), full);
      };
      return scaled_dot_product_attention(query, repeat(key, hk), repeat(value, hv), attn_mask, dropout_p,
                                          is_causal, scale, false, gen);
    }
  }
  const bool gqa = enable_gqa && ksh[ksh.size() - 3] != qsh[qsh.size() - 3];
  if (gqa) {
    H = qsh[qsh.size() - 3], Hk = ksh[ksh.size() - 3];
    lead = broadcast_shapes(broadcast_shapes(prefix(qsh, 3), prefix(ksh, 3), kOp), prefix(vsh, 3), kOp);
  } else {
    Shape batch = broadcast_shapes(broadcast_shapes(prefix(qsh, 2), prefix(ksh, 2), kOp), prefix(vsh, 2), kOp);
    if (!batch.empty()) H = Hk = batch.back(), batch.pop_back();
    lead = batch;
  }
  // 2-d operands get a unit heads dim so every operand is (lead..., heads, rows, cols).
  Shape q_full = cat_shape(lead, {H, Lq, E}), kv_full = cat_shape(lead, {Hk, S, E}), v_full = cat_shape(lead, {Hk, S, Ev});
  const size_t nl = lead.size();
  const bool all_2d = query.dim() == 2 && key.dim() == 2 && value.dim() == 2;

  AttentionArgs a;
  a.dtype = query.dtype();
  a.batch = numel(lead), a.heads = H, a.kv_heads = Hk, a.L = Lq, a.S = S, a.E = E, a.Ev = Ev;
  a.causal = is_causal;
  // With E == 0 every score is an empty sum, 0 (PyTorch too), whatever the scale.
  a.scale = E == 0 ? 1.0 : scale ? *scale : 1.0 / std::sqrt(double(E));
  a.dropout_p = dropout_p;
  Tensor mask;
  if (attn_mask.defined()) {
    LAMINA_CHECK(attn_mask.dtype() == DType::Bool || attn_mask.dtype() == query.dtype(), kOp,
                 ": expected attn_mask of dtype bool or the query's dtype ", dtype_name(query.dtype()), ", got ",
                 dtype_name(attn_mask.dtype()));
    Shape scores = cat_shape(lead, {H, Lq, S});
    LAMINA_CHECK(attn_mask.dim() <= int64_t(scores.size()) && is_expandable_to(attn_mask.shape(), scores), kOp,
                 ": attn_mask of shape ", str(attn_mask.shape()), " cannot be broadcast to the scores' shape ",
                 str(scores));
    LAMINA_CHECK(!(autograd::GradMode::is_enabled() && attn_mask.requires_grad()), kOp,
                 ": the gradient with respect to a float attn_mask is not supported; detach the mask");
    mask = operand(attn_mask, scores, nl, false, a.mask_strides);
    a.mask = mask.raw_data();
    a.mask_is_bool = attn_mask.dtype() == DType::Bool;
  }

  Tensor out = make_tensor(all_2d ? Shape{Lq, Ev} : cat_shape(lead, {H, Lq, Ev}), a.dtype, query.device());
  Tensor lse = make_tensor(cat_shape(lead, {H, Lq}), a.dtype, query.device());
  a.out = out.raw_data(), a.lse = lse.raw_data();
  if (dropout_p > 0) {
    Generator& g = gen ? *gen : default_generator();
    a.seed = g.seed();
    a.first_block = g.reserve((uint64_t(numel(cat_shape(lead, {H, Lq, S}))) + 3) / 4);
  }
  {
    autograd::GradModeGuard no_grad(false);
    int64_t qs[4], ks[4], vs[4];
    Tensor qo = operand(query, q_full, nl, true, qs), ko = operand(key, kv_full, nl, true, ks);
    Tensor vo = operand(value, v_full, nl, true, vs);
    a.q = qo.raw_data(), a.k = ko.raw_data(), a.v = vo.raw_data();
    std::copy(qs, qs + 3, a.q_strides), std::copy(ks, ks + 3, a.k_strides), std::copy(vs, vs + 3, a.v_strides);
    if (a.batch * H * Lq > 0) LAMINA_KERNEL(query.device(), attention, kOp)(a);
  }
  if (auto node = autograd::make_node<AttentionBackward>(query, key, value)) {
    node->save(node->q_, query), node->save(node->k_, key), node->save(node->v_, value);
    node->lse_ = lse, node->mask_ = mask;
    node->q_shape = qsh, node->k_shape = ksh, node->v_shape = vsh;
    node->q_full = q_full, node->kv_full = kv_full, node->v_full = v_full;
    node->args = a, node->nlead = nl;
    autograd::set_history(out, node);
    node->save(node->out_, out, /*is_output=*/true);
  }
  return out;
}

}  // namespace lamina
