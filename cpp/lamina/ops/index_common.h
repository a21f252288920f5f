// Helpers shared by the indexing ops (index.cpp, scatter.cpp, sort.cpp); not part of the public
// API. Index tensors are checked here, on the host, before any kernel runs.
#pragma once

#include <utility>
#include <vector>

#include "lamina/ops/elementwise.h"

namespace lamina::indexing {

// (min, max) of a non-empty int64 tensor.
std::pair<int64_t, int64_t> min_max(const Tensor& index);
// IndexError "<op>: index 5 is out of bounds for dimension 0 with size 3" unless every value of
// the int64 tensor `index` lies in [-size, size) (allow_negative) or [0, size). Returns the min.
int64_t check_range(const Tensor& index, int64_t dim, int64_t size, bool allow_negative, const char* op);

// A backward node that keeps a list of index tensors (undefined entries allowed).
struct IndicesNode : autograd::Node {
  std::vector<autograd::SavedTensor> indices_;
  void save_indices(const std::vector<Tensor>& indices) {
    indices_.resize(indices.size());  // sized first: save() keeps pointers to the slots
    for (size_t i = 0; i < indices.size(); ++i) save(indices_[i], indices[i]);
  }
  std::vector<Tensor> indices() {
    std::vector<Tensor> out;
    for (const auto& s : indices_) out.push_back(unpack(s));
    return out;
  }
};

}  // namespace lamina::indexing
