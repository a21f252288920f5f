// rnn_layer: one layer and direction of an LSTM / GRU / Elman RNN over a packed sequence. Each
// step runs one fused kernel (cpu/kernels/rnn.cpp) on the step's rows, a prefix of the batch: the
// product of [input | previous state] with the packed [W_ih^T; W_hh^T] and the gate math. The
// state buffers hold each sequence's latest state, so rows that end early (forward) or start late
// (reverse) keep theirs untouched. Backward through time is one node: per step one fused kernel
// (the recurrent product of the step after it, then this step's gate grads), then one GEMM each
// for the input and weight gradients. LSTM projections (proj_size) keep their backward unfused.
#include <cstring>

#include "lamina/core/kernel_table.h"
#include "lamina/core/profiler.h"
#include "lamina/ops/nn_common.h"
#include "lamina/ops/ops.h"
#include "lamina/ops/rnn.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

enum class Mode { Lstm, Gru, RnnTanh, RnnRelu };

// A matrix operand: element (i, j) at p[i * rs + j * cs].
struct Mat {
  const void* p;
  int64_t rs, cs;
};

// c (m, n; row stride ldc) = a @ b + beta * c + bias (per column, may be null); b_packed, when
// given, is b as packed() laid it out.
void mm(DType dt, Device dev, int64_t m, int64_t n, int64_t k, Mat a, Mat b, void* c, int64_t ldc, double beta,
        const void* bias, const char* op, const Tensor& b_packed = Tensor()) {
  if (m == 0 || n == 0) return;
  GemmArgs g;
  g.dtype = dt;
  g.m = m, g.n = n, g.k = k, g.beta = beta;
  g.a = {a.p, a.rs, a.cs, 0};
  g.b = {b.p, b.rs, b.cs, 0};
  g.c = {c, ldc, 1, 0};
  if (bias) g.epilogue = {bias, 0, 1, Activation::None};
  if (b_packed.defined()) g.b_packed = b_packed.raw_data();
  LAMINA_KERNEL(dev, gemm, op)(g);
}

// The recurrent weight b (k, n) packed once for the GEMM of every time step, so that no step
// re-packs it (a 1 MiB copy per step for a 256-unit LSTM, as much memory traffic as the product).
Tensor packed(DType dt, Device dev, int64_t k, int64_t n, Mat b, const char* op) {
  GemmArgs g;
  g.dtype = dt;
  g.k = k, g.n = n;
  g.b = {b.p, b.rs, b.cs, 0};
  auto pack = LAMINA_KERNEL(dev, gemm_pack_b, op);
  Tensor buf = make_tensor({pack(g, nullptr)}, dt, dev);
  pack(g, buf.raw_data());
  return buf;
}

// W_hh (G H, H) packed for the backward step kernel's product dG W_hh (see rnn_pack_weights).
Tensor packed_for_backward(DType dt, Device dev, int64_t G, const Tensor& w_hh, const char* op) {
  auto pack = LAMINA_KERNEL(dev, rnn_pack_weights, op);
  const int64_t H = w_hh.shape()[1];
  Tensor buf = make_tensor({pack(dt, G, H, 0, H, nullptr, nullptr, true, nullptr)}, dt, dev);
  pack(dt, G, H, 0, H, nullptr, w_hh.raw_data(), true, buf.raw_data());
  return buf;
}

// Row-major (rows, ld) matrix w as the right operand w^T (k = its columns) or w itself.
Mat T_(const Tensor& w) { return {w.raw_data(), 1, w.shape()[1]}; }
Mat N_(const Tensor& w) { return {w.raw_data(), w.shape()[1], 1}; }

// Sizes and step layout of one call.
struct Geometry {
  Mode mode = Mode::Lstm;
  const char* name = "lstm";
  int64_t G = 4, H = 0, P = 0, I = 0, B = 0, N = 0, T = 0;
  std::vector<int64_t> bs, off;
  bool reverse = false;
  int64_t step(int64_t s) const { return reverse ? T - 1 - s : s; }  // s-th step processed
};

// Element `e` of a contiguous tensor.
char* at(const Tensor& t, int64_t e) { return t.raw_data() + e * int64_t(t.itemsize()); }

// dst[0, n) += src[0, n).
void add_into(DType dt, void* dst, const void* src, int64_t n) {
  dispatch_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = static_cast<T*>(dst);
    const T* s = static_cast<const T*>(src);
    for (int64_t i = 0; i < n; ++i) d[i] += s[i];
  });
}

// (N, W): for each step, the state its rows started from: the previous processed step's rows
// where the sequence was already running, else the initial state (zeros when undefined).
Tensor gather_prev(const Geometry& g, const Tensor& saved, const Tensor& init, int64_t W) {
  Tensor out = make_tensor({g.N, W}, saved.dtype(), saved.device(), !init.defined());
  const size_t row = size_t(W) * saved.itemsize();
  for (int64_t s = 0; s < g.T; ++s) {
    int64_t t = g.step(s), n = g.bs[size_t(t)], m = 0;
    if (s > 0) {
      int64_t tp = g.step(s - 1);
      m = std::min(n, g.bs[size_t(tp)]);
      if (m > 0) std::memcpy(at(out, g.off[size_t(t)] * W), at(saved, g.off[size_t(tp)] * W), size_t(m) * row);
    }
    if (init.defined() && n > m) std::memcpy(at(out, (g.off[size_t(t)] + m) * W), at(init, m * W), size_t(n - m) * row);
  }
  return out;
}

// Backward through time of an LSTM with projections (h = hraw W_hr^T), unfused: per step the grad
// of hraw (one GEMM), the gate grads, and the recurrent product dh = dG W_hh (dR: each step's dh).
void backward_projected(const Geometry& g, const Tensor& dOut, const Tensor& Whh, const Tensor& Whr,
                        const Tensor& gates, const Tensor& c, const Tensor& cprev, Tensor& dh, Tensor& dc, Tensor& dR,
                        Tensor& dG) {
  const DType dt = dOut.dtype();
  const Device dev = dOut.device();
  const int64_t H = g.H, P = g.P, GH = 4 * H;
  Tensor dhraw = make_tensor({g.B, H}, dt, dev);
  const Tensor Whh_packed = packed(dt, dev, GH, P, N_(Whh), g.name);
  auto cell_backward = LAMINA_KERNEL(dev, lstm_cell_backward, g.name);
  for (int64_t s = g.T - 1; s >= 0; --s) {
    const int64_t t = g.step(s), n = g.bs[size_t(t)], o = g.off[size_t(t)];
    if (n == 0) continue;
    add_into(dt, dh.raw_data(), at(dOut, o * P), n * P);  // dh[:n] = grad of this step's output
    std::memcpy(at(dR, o * P), dh.raw_data(), size_t(n * P) * dh.itemsize());
    mm(dt, dev, n, H, P, {at(dR, o * P), P, 1}, N_(Whr), dhraw.raw_data(), H, 0, nullptr, g.name);
    cell_backward(dt, n, H, at(gates, o * GH), at(c, o * H), at(cprev, o * H), dhraw.raw_data(), dc.raw_data(),
                  at(dG, o * GH));
    mm(dt, dev, n, P, GH, {at(dG, o * GH), GH, 1}, N_(Whh), dh.raw_data(), P, 0, nullptr, g.name, Whh_packed);
  }
}

struct RnnLayerBackward : Node {
  Geometry g;
  SavedTensor x_, h0_, c0_, w_ih_, w_hh_, w_hr_, out_;
  bool has_b_ih = false, has_b_hh = false;
  Tensor gates_, c_, hraw_, hn_;  // LSTM: gates, c, hraw (projection); GRU: gates, hn
  std::string name() const override {
    switch (g.mode) {
      case Mode::Lstm: return "LstmBackward0";
      case Mode::Gru: return "GruBackward0";
      case Mode::RnnTanh: return "RnnTanhBackward0";
      default: return "RnnReluBackward0";
    }
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
};

std::vector<Tensor> RnnLayerBackward::apply(std::vector<Tensor>&& grads) {
  LAMINA_CHECK(!autograd::GradMode::is_enabled(), g.name,
               ": double backward is not supported for the fused recurrent kernel");
  Tensor x = unpack(x_), out = unpack(out_);
  DType dt = x.dtype();
  Device dev = x.device();
  const int64_t G = g.G, H = g.H, P = g.P, GH = G * H;
  const bool lstm = g.mode == Mode::Lstm, gru = g.mode == Mode::Gru, proj = hraw_.defined();
  Tensor X = nn_detail::dense(x, dt), Wih = nn_detail::dense(unpack(w_ih_), dt), Whh = nn_detail::dense(unpack(w_hh_), dt);
  Tensor Whr = proj ? nn_detail::dense(unpack(w_hr_), dt) : Tensor();
  Tensor h0 = h0_.defined() ? nn_detail::dense(unpack(h0_), dt) : Tensor();
  Tensor c0 = c0_.defined() ? nn_detail::dense(unpack(c0_), dt) : Tensor();
  Tensor dOut = nn_detail::dense(grads[0], dt);
  Tensor dh = clone(nn_detail::dense(grads[1], dt));
  Tensor dc = lstm ? clone(nn_detail::dense(grads[2], dt)) : Tensor();
  Tensor dGx = make_tensor({g.N, GH}, dt, dev), dGh = gru ? make_tensor({g.N, GH}, dt, dev) : dGx;
  Tensor cprev = lstm ? gather_prev(g, c_, c0, H) : Tensor();
  Tensor dR = proj ? make_tensor({g.N, P}, dt, dev) : Tensor();
  Tensor hprev = gather_prev(g, out, h0, P);
  if (proj) {
    backward_projected(g, dOut, Whh, Whr, gates_, c_, cprev, dh, dc, dR, dGx);
  } else {
    const Tensor Wt = packed_for_backward(dt, dev, g.G, Whh, g.name);  // dh (n, H) = dG (n, GH) Whh
    auto step_backward = LAMINA_KERNEL(dev, rnn_step_backward, g.name);
    RnnStepBackwardArgs base;
    base.dtype = dt, base.gates = g.G, base.hidden = H, base.relu = g.mode == Mode::RnnRelu;
    base.w_packed = Wt.raw_data(), base.dh = dh.raw_data(), base.dc = lstm ? dc.raw_data() : nullptr;
    // Call i first finishes the product of the step of call i - 1, then takes its own step's gates.
    std::vector<RnnStepBackwardArgs> calls;
    int64_t next_rows = 0, next_off = 0;
    auto add_call = [&](int64_t n, int64_t o) {
      RnnStepBackwardArgs a = base;
      a.rows_next = next_rows, a.dg_next = at(dGh, next_off * GH);
      a.rows = n, a.dout = at(dOut, o * H), a.gates_in = at(g.G == 1 ? out : gates_, o * GH);
      a.c = lstm ? at(c_, o * H) : nullptr, a.c_prev = lstm ? at(cprev, o * H) : nullptr;
      a.hn = gru ? at(hn_, o * H) : nullptr, a.h_prev = at(hprev, o * H), a.h = at(out, o * H);
      a.dgx = at(dGx, o * GH), a.dgh = at(dGh, o * GH);
      calls.push_back(a);
      next_rows = n, next_off = o;
    };
    for (int64_t s = g.T - 1; s >= 0; --s) {
      const int64_t t = g.step(s), n = g.bs[size_t(t)];
      if (n > 0) add_call(n, g.off[size_t(t)]);
    }
    if (next_rows > 0) add_call(0, next_off);  // the first step's product: the grad of h0
    for (size_t i = 0; i < calls.size(); ++i) {
      if (i + 1 < calls.size()) calls[i].next = &calls[i + 1];
      step_backward(calls[i]);
    }
  }
  // Inputs: x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr.
  std::vector<Tensor> res(8);
  if (needs_input_grad(0)) {
    res[0] = make_tensor({g.N, g.I}, dt, dev);
    mm(dt, dev, g.N, g.I, GH, {dGx.raw_data(), GH, 1}, N_(Wih), res[0].raw_data(), g.I, 0, nullptr, g.name);
  }
  if (needs_input_grad(1)) res[1] = dh;
  if (needs_input_grad(2)) res[2] = dc;
  if (needs_input_grad(3)) {
    res[3] = make_tensor({GH, g.I}, dt, dev);
    mm(dt, dev, GH, g.I, g.N, {dGx.raw_data(), 1, GH}, N_(X), res[3].raw_data(), g.I, 0, nullptr, g.name);
  }
  if (needs_input_grad(4)) {
    res[4] = make_tensor({GH, P}, dt, dev);
    mm(dt, dev, GH, P, g.N, {dGh.raw_data(), 1, GH}, N_(hprev), res[4].raw_data(), P, 0, nullptr, g.name);
  }
  if (needs_input_grad(5)) res[5] = sum(dGx, {0});
  if (needs_input_grad(6)) res[6] = sum(dGh, {0});
  if (needs_input_grad(7)) {
    res[7] = make_tensor({P, H}, dt, dev);
    mm(dt, dev, P, H, g.N, {dR.raw_data(), 1, P}, N_(hraw_), res[7].raw_data(), H, 0, nullptr, g.name);
  }
  return res;
}

void check_operand(const Tensor& t, const Tensor& x, const Shape& shape, const char* op, const char* what) {
  if (!t.defined()) return;
  elementwise::check_same_device(x, t, op);
  LAMINA_CHECK(t.dtype() == x.dtype(), op, ": expected ", what, " to have the input's dtype ",
               elementwise::type_name(x.dtype()), ", got ", elementwise::type_name(t.dtype()));
  LAMINA_CHECK(t.shape() == shape, op, ": expected ", what, " of shape ", str(shape), ", got ", str(t.shape()));
}

Geometry make_geometry(const std::string& mode, const Tensor& x, const std::vector<int64_t>& batch_sizes,
                       const Tensor& w_ih, const Tensor& w_hh, const Tensor& w_hr, bool reverse) {
  Geometry g;
  if (mode == "lstm") g.mode = Mode::Lstm, g.name = "lstm", g.G = 4;
  else if (mode == "gru") g.mode = Mode::Gru, g.name = "gru", g.G = 3;
  else if (mode == "rnn_tanh") g.mode = Mode::RnnTanh, g.name = "rnn_tanh", g.G = 1;
  else if (mode == "rnn_relu") g.mode = Mode::RnnRelu, g.name = "rnn_relu", g.G = 1;
  else LAMINA_CHECK_VALUE(false, "rnn_layer: unknown mode '", mode, "' (expected lstm, gru, rnn_tanh or rnn_relu)");
  const char* op = g.name;
  LAMINA_CHECK(x.is_floating_point(), op,
               ": expected a float32 or float64 input, got ", elementwise::type_name(x.dtype()));
  LAMINA_CHECK(x.dim() == 2, op, ": expected a 2-d (rows, input_size) input, got ", str(x.shape()));
  LAMINA_CHECK(w_ih.dim() == 2 && w_ih.shape()[0] % g.G == 0 && w_ih.shape()[0] > 0, op, ": expected weight_ih of shape (",
               g.G, " * hidden_size, input_size), got ", str(w_ih.shape()));
  g.H = w_ih.shape()[0] / g.G;
  g.I = x.shape()[1];
  LAMINA_CHECK(w_ih.shape()[1] == g.I, op, ": input size ", g.I, " of input ", str(x.shape()),
               " does not match weight_ih ", str(w_ih.shape()));
  LAMINA_CHECK(!w_hr.defined() || g.mode == Mode::Lstm, op, ": weight_hr (projections) is only supported by lstm");
  g.P = w_hr.defined() ? (w_hr.dim() == 2 ? w_hr.shape()[0] : -1) : g.H;
  check_operand(w_hr, x, {g.P, g.H}, op, "weight_hr");
  check_operand(w_ih, x, w_ih.shape(), op, "weight_ih");
  check_operand(w_hh, x, {g.G * g.H, g.P}, op, "weight_hh");
  LAMINA_CHECK(!batch_sizes.empty(), op, ": expected at least one time step");
  g.bs = batch_sizes;
  g.T = int64_t(batch_sizes.size());
  g.B = batch_sizes[0];
  for (size_t t = 0; t < batch_sizes.size(); ++t) {
    LAMINA_CHECK(batch_sizes[t] >= 0 && (t == 0 || batch_sizes[t] <= batch_sizes[t - 1]), op,
                 ": batch_sizes must be non-negative and non-increasing, got ", str(batch_sizes));
    g.off.push_back(g.N);
    g.N += batch_sizes[t];
  }
  LAMINA_CHECK(g.N == x.shape()[0], op, ": batch_sizes sum to ", g.N, " but the input ", str(x.shape()), " has ",
               x.shape()[0], " rows");
  g.reverse = reverse;
  return g;
}

}  // namespace

std::vector<Tensor> rnn_layer(const std::string& mode, const Tensor& x, const std::vector<int64_t>& batch_sizes,
                              const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                              const Tensor& b_ih, const Tensor& b_hh, const Tensor& w_hr, bool reverse) {
  LAMINA_PROFILE_OP("rnn_layer", x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr);
  Geometry g = make_geometry(mode, x, batch_sizes, w_ih, w_hh, w_hr, reverse);
  const char* op = g.name;
  const bool lstm = g.mode == Mode::Lstm, gru = g.mode == Mode::Gru, proj = w_hr.defined();
  const int64_t H = g.H, P = g.P, GH = g.G * H, B = g.B;
  check_operand(b_ih, x, {GH}, op, "bias_ih");
  check_operand(b_hh, x, {GH}, op, "bias_hh");
  check_operand(h0, x, {B, P}, op, "h0");
  LAMINA_CHECK(!c0.defined() || lstm, op, ": only lstm takes an initial cell state");
  check_operand(c0, x, {B, H}, op, "c0");
  DType dt = x.dtype();
  Device dev = x.device();
  Tensor out, hs, cs, gates, csave, hraw, hn;
  {
    autograd::GradModeGuard no_grad(false);
    Tensor X = nn_detail::dense(x, dt), Wih = nn_detail::dense(w_ih, dt), Whh = nn_detail::dense(w_hh, dt);
    Tensor Whr = proj ? nn_detail::dense(w_hr, dt) : Tensor();
    Tensor bi = b_ih.defined() ? nn_detail::dense(b_ih, dt) : Tensor(), bh = b_hh.defined() ? nn_detail::dense(b_hh, dt) : Tensor();
    // Both weights are re-read every step: packed once, side by side per block of hidden units.
    auto pack = LAMINA_KERNEL(dev, rnn_pack_weights, op);
    Tensor W = make_tensor({pack(dt, g.G, H, g.I, P, nullptr, nullptr, false, nullptr)}, dt, dev);
    pack(dt, g.G, H, g.I, P, Wih.raw_data(), Whh.raw_data(), false, W.raw_data());
    // xh (B, I + P): each row's input at this step, then its latest state (rows that have ended
    // or not started keep theirs).
    const int64_t K = g.I + P;
    Tensor xh = zeros({B, K}, {dt, dev});
    const size_t isz = x.itemsize();
    auto copy_rows = [&](char* dst, int64_t dst_ld, const char* src, int64_t src_ld, int64_t rows, int64_t cols) {
      for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_ld * isz, src + r * src_ld * isz, size_t(cols) * isz);
    };
    if (h0.defined()) copy_rows(at(xh, g.I), K, nn_detail::dense(h0, dt).raw_data(), P, B, P);
    gates = make_tensor({g.N, GH}, dt, dev);
    if (lstm) {
      cs = c0.defined() ? clone(nn_detail::dense(c0, dt)) : zeros({B, H}, {dt, dev});
      csave = make_tensor({g.N, H}, dt, dev);
      if (proj) hraw = make_tensor({g.N, H}, dt, dev);
    }
    out = g.G == 1 ? gates : make_tensor({g.N, P}, dt, dev);
    if (gru) hn = make_tensor({g.N, H}, dt, dev);
    RnnStepArgs base;
    base.dtype = dt, base.gates = g.G, base.hidden = H, base.input = g.I, base.k = K;
    base.relu = g.mode == Mode::RnnRelu, base.xh = xh.raw_data(), base.w_packed = W.raw_data();
    base.b_ih = bi.defined() ? bi.raw_data() : nullptr, base.b_hh = bh.defined() ? bh.raw_data() : nullptr;
    base.c_prev = lstm ? cs.raw_data() : nullptr;
    auto args_at = [&](int64_t s) {
      RnnStepArgs a = base;
      const int64_t o = g.off[size_t(g.step(s))];
      a.rows = g.bs[size_t(g.step(s))], a.gates_out = at(gates, o * GH);
      a.c = lstm ? at(csave, o * H) : nullptr, a.hn = gru ? at(hn, o * H) : nullptr;
      a.h = proj ? at(hraw, o * H) : at(out, o * P);  // Elman: out is gates, h replaces them
      return a;
    };
    auto step = LAMINA_KERNEL(dev, rnn_step, op);
    RnnStepArgs next = args_at(0);
    for (int64_t s = 0; s < g.T; ++s) {
      RnnStepArgs a = next;
      if (s + 1 < g.T) next = args_at(s + 1), a.next = &next;
      const int64_t n = a.rows, o = g.off[size_t(g.step(s))];
      if (n == 0) continue;
      copy_rows(xh.raw_data(), K, at(X, o * g.I), g.I, n, g.I);
      step(a);
      if (lstm) std::memcpy(cs.raw_data(), at(csave, o * H), size_t(n * H) * isz);
      if (proj) mm(dt, dev, n, P, H, {at(hraw, o * H), H, 1}, T_(Whr), at(out, o * P), P, 0, nullptr, op);
      copy_rows(at(xh, g.I), K, at(out, o * P), P, n, P);
    }
    hs = make_tensor({B, P}, dt, dev);
    copy_rows(hs.raw_data(), P, at(xh, g.I), K, B, P);
  }
  if (auto node = autograd::make_node<RnnLayerBackward>(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)) {
    node->g = g;
    autograd::set_history(out, node);
    autograd::set_history(hs, node);
    if (lstm) autograd::set_history(cs, node);
    node->save(node->x_, x);
    node->save(node->h0_, h0);
    node->save(node->c0_, c0);
    node->save(node->w_ih_, w_ih);
    node->save(node->w_hh_, w_hh);
    node->save(node->w_hr_, w_hr);
    node->save(node->out_, out, true);
    if (g.G > 1) node->gates_ = gates;
    node->c_ = csave;
    node->hraw_ = hraw;
    node->hn_ = hn;
  }
  return {out, hs, cs};
}

}  // namespace lamina
