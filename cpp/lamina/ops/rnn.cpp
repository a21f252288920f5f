// rnn_layer: one layer and direction of an LSTM / GRU / Elman RNN over a packed sequence. One GEMM
// projects every time step's input at once; each step then runs one GEMM for the recurrent product
// and one fused gate kernel (cpu/kernels/rnn.cpp) on the step's rows, a prefix of the batch. The
// state buffers (B, P) / (B, H) hold each sequence's latest state, so rows that end early (forward)
// or start late (reverse) keep theirs untouched. Backward through time is one node: per step a
// fused gate kernel and one GEMM, then one GEMM each for the input and weight gradients.
#include <cstring>

#include "lamina/core/kernel_table.h"
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
  Tensor dhraw = proj ? make_tensor({g.B, H}, dt, dev) : Tensor();
  Tensor hprev = gather_prev(g, out, h0, P);
  const Tensor Whh_packed = packed(dt, dev, GH, P, N_(Whh), g.name);  // dh (n, P) = dG (n, GH) Whh
  auto& K = kernel_table(dev);
  for (int64_t s = g.T - 1; s >= 0; --s) {
    const int64_t t = g.step(s), n = g.bs[size_t(t)], o = g.off[size_t(t)];
    if (n == 0) continue;
    add_into(dt, dh.raw_data(), at(dOut, o * P), n * P);  // dh[:n] = grad of this step's output
    if (lstm) {
      const void* dhv = dh.raw_data();
      if (proj) {
        std::memcpy(at(dR, o * P), dh.raw_data(), size_t(n * P) * dh.itemsize());
        mm(dt, dev, n, H, P, {at(dR, o * P), P, 1}, N_(Whr), dhraw.raw_data(), H, 0, nullptr, g.name);
        dhv = dhraw.raw_data();
      }
      kernel(K.lstm_cell_backward, g.name, dev)(dt, n, H, at(gates_, o * GH), at(c_, o * H), at(cprev, o * H), dhv,
                                                 dc.raw_data(), at(dGx, o * GH));
      mm(dt, dev, n, P, GH, {at(dGx, o * GH), GH, 1}, N_(Whh), dh.raw_data(), P, 0, nullptr, g.name, Whh_packed);
    } else if (gru) {
      kernel(K.gru_cell_backward, g.name, dev)(dt, n, H, at(gates_, o * GH), at(hn_, o * H), at(hprev, o * H),
                                                dh.raw_data(), at(dGx, o * GH), at(dGh, o * GH));
      mm(dt, dev, n, H, GH, {at(dGh, o * GH), GH, 1}, N_(Whh), dh.raw_data(), H, 1, nullptr, g.name, Whh_packed);
    } else {
      kernel(K.rnn_cell_backward, g.name, dev)(dt, n, H, g.mode == Mode::RnnRelu, at(out, o * H), dh.raw_data(),
                                                at(dGx, o * GH));
      mm(dt, dev, n, H, GH, {at(dGx, o * GH), GH, 1}, N_(Whh), dh.raw_data(), H, 0, nullptr, g.name, Whh_packed);
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
    // The recurrent weights are re-read every step: packed once here for the GEMM.
    Tensor X = nn_detail::dense(x, dt), Wih = nn_detail::dense(w_ih, dt);
    Tensor Whh = nn_detail::dense(w_hh, dt);
    const Tensor WhhT = packed(dt, dev, P, GH, T_(Whh), op);  // gates (n, GH) += h (n, P) Whh^T
    Tensor Whr = proj ? nn_detail::dense(w_hr, dt) : Tensor();
    // LSTM / RNN fold both biases into the input projection; GRU keeps b_hh inside r * (.).
    Tensor bx = gru ? b_ih : (b_ih.defined() && b_hh.defined() ? add(b_ih, b_hh) : b_ih.defined() ? b_ih : b_hh);
    if (bx.defined()) bx = nn_detail::dense(bx, dt);
    Tensor bh = gru && b_hh.defined() ? nn_detail::dense(b_hh, dt) : Tensor();
    gates = make_tensor({g.N, GH}, dt, dev);
    mm(dt, dev, g.N, GH, g.I, {X.raw_data(), g.I, 1}, T_(Wih), gates.raw_data(), GH, 0,
       bx.defined() ? bx.raw_data() : nullptr, op);
    hs = h0.defined() ? clone(nn_detail::dense(h0, dt)) : zeros({B, P}, {dt, dev});
    if (lstm) {
      cs = c0.defined() ? clone(nn_detail::dense(c0, dt)) : zeros({B, H}, {dt, dev});
      csave = make_tensor({g.N, H}, dt, dev);
      if (proj) hraw = make_tensor({g.N, H}, dt, dev);
    }
    out = g.G == 1 ? gates : make_tensor({g.N, P}, dt, dev);
    Tensor hg = gru ? make_tensor({B, GH}, dt, dev) : Tensor();
    if (gru) hn = make_tensor({g.N, H}, dt, dev);
    auto& K = kernel_table(dev);
    const size_t isz = x.itemsize();
    for (int64_t s = 0; s < g.T; ++s) {
      const int64_t t = g.step(s), n = g.bs[size_t(t)], o = g.off[size_t(t)];
      if (n == 0) continue;
      void* gt = at(gates, o * GH);
      if (lstm) {
        mm(dt, dev, n, GH, P, {hs.raw_data(), P, 1}, T_(Whh), gt, GH, 1, nullptr, op, WhhT);
        void* hdst = proj ? at(hraw, o * H) : at(out, o * P);
        kernel(K.lstm_cell, op, dev)(dt, n, H, gt, cs.raw_data(), at(csave, o * H), hdst);
        std::memcpy(cs.raw_data(), at(csave, o * H), size_t(n * H) * isz);
        if (proj) mm(dt, dev, n, P, H, {hdst, H, 1}, T_(Whr), at(out, o * P), P, 0, nullptr, op);
        std::memcpy(hs.raw_data(), at(out, o * P), size_t(n * P) * isz);
      } else if (gru) {
        mm(dt, dev, n, GH, H, {hs.raw_data(), H, 1}, T_(Whh), hg.raw_data(), GH, 0,
           bh.defined() ? bh.raw_data() : nullptr, op, WhhT);
        kernel(K.gru_cell, op, dev)(dt, n, H, gt, hg.raw_data(), hs.raw_data(), at(hn, o * H), hs.raw_data());
        std::memcpy(at(out, o * H), hs.raw_data(), size_t(n * H) * isz);
      } else {
        mm(dt, dev, n, H, H, {hs.raw_data(), H, 1}, T_(Whh), gt, H, 1, nullptr, op, WhhT);
        kernel(K.rnn_cell, op, dev)(dt, n, H, g.mode == Mode::RnnRelu, gt);
        std::memcpy(hs.raw_data(), gt, size_t(n * H) * isz);
      }
    }
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
