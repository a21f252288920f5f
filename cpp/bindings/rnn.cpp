// Binding of the fused recurrent layer (ops/rnn.h) as the private lamina._C._rnn_layer, which
// lamina.nn.modules.rnn calls once per layer and direction.
#include "bindings/common.h"

namespace lamina::bindings {

namespace {

Tensor rnn_opt(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }

}  // namespace

void init_rnn(py::module_& m) {
  m.def("_rnn_layer", [](const std::string& mode, const Tensor& x, const std::vector<int64_t>& batch_sizes,
                         const std::optional<Tensor>& h0, const std::optional<Tensor>& c0, const Tensor& w_ih,
                         const Tensor& w_hh, const std::optional<Tensor>& b_ih, const std::optional<Tensor>& b_hh,
                         const std::optional<Tensor>& w_hr, bool reverse) {
    auto r = nogil([&] {
      return rnn_layer(mode, x, batch_sizes, rnn_opt(h0), rnn_opt(c0), w_ih, w_hh, rnn_opt(b_ih), rnn_opt(b_hh),
                       rnn_opt(w_hr), reverse);
    });
    return py::make_tuple(r[0], r[1], r[2]);
  }, py::arg("mode"), py::arg("input"), py::arg("batch_sizes"), py::arg("h0").none(true), py::arg("c0").none(true),
     py::arg("weight_ih"), py::arg("weight_hh"), py::arg("bias_ih").none(true), py::arg("bias_hh").none(true),
     py::arg("weight_hr").none(true), py::arg("reverse") = false,
     "One layer and direction of an LSTM / GRU / RNN over packed rows (N, input_size); step t is the\n"
     "first batch_sizes[t] sequences. Returns (output (N, P), h_n (B, P), c_n (B, H) or None).");
}

}  // namespace lamina::bindings
