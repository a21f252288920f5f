// Fused recurrent layers (ops/rnn.cpp): one layer and direction of an LSTM, GRU or Elman RNN over
// a packed sequence, with its backward through time as one autograd node.
#pragma once

#include <string>
#include <vector>

#include "lamina/core/tensor.h"

namespace lamina {

// mode: "lstm", "gru", "rnn_tanh" or "rnn_relu". x (N, I) holds the time steps back to back, step t
// being the first batch_sizes[t] sequences (non-increasing sizes, B = batch_sizes[0], N their sum);
// reverse runs the steps last to first. h0 (B, P) and c0 (B, H) (LSTM) may be undefined (zeros).
// w_ih (G H, I), w_hh (G H, P), b_ih/b_hh (G H,) or undefined, w_hr (P, H) (LSTM projection) or
// undefined (then P = H), G = 4, 3, 1. Returns {out (N, P), h_n (B, P), c_n (B, H) or undefined}.
std::vector<Tensor> rnn_layer(const std::string& mode, const Tensor& x, const std::vector<int64_t>& batch_sizes,
                              const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                              const Tensor& b_ih, const Tensor& b_hh, const Tensor& w_hr, bool reverse);

}  // namespace lamina
