// The extension module lamina._C: error translation, then one init_<area> per binding file.
#include "bindings/common.h"
#include "lamina/cpu/isa.h"

namespace lamina::bindings {

void init_linalg(py::module_& m, TensorClass& cls);  // bindings/linalg.cpp

static void init_errors() {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const OutOfMemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
}

}  // namespace lamina::bindings

PYBIND11_MODULE(_C, m) {
  using namespace lamina::bindings;
  m.doc() = "lamina's C++ core: tensors, kernels and autograd";
  lamina::cpu::init_kernels();
  init_errors();
  init_dtype_device(m);
  TensorClass cls(m, "Tensor", py::dynamic_attr(), py::custom_type_setup(&setup_tensor_gc),
                  "A multi-dimensional array with autograd support.");
  init_tensor(m, cls);
  init_ops(m, cls);
  init_indexing(m, cls);
  init_index_ops(m, cls);
  init_autograd(m, cls);
  init_interop(m, cls);
  init_dlpack(m, cls);
  init_shape_ops(m, cls);
  init_random(m, cls);
  init_creation(m);
  init_runtime(m);
  init_pool(m);
  init_matmul(m, cls);
  init_optim(m);
  init_nn_ops(m, cls);
  init_gemm_testing(m);
  init_conv(m);
  init_rnn(m);
  init_linalg(m, cls);
  init_profiler(m);
}
