"""Training-style loops must not leak: no reference cycles between tensors and graph nodes, for
plain backward, double backward (create_graph) and custom Functions that save their outputs
(the last two leak in PyTorch)."""

import gc

import numpy as np

import lamina
from lamina.autograd import Function

STEPS = 100_000


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class SaveOutput(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.sigmoid()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)


def plain_step(w, x):
    loss = ((x * w).tanh() * 2).sum()
    loss.backward()


def double_backward_step(w, x):
    loss = ((x * w).tanh() ** 2).sum()
    (g,) = lamina.autograd.grad(loss, w, create_graph=True)
    g.sum().backward()


def function_step(w, x):
    SaveOutput.apply(x * w).sum().backward()


def check_flat(step):
    w = lamina.randn(8, requires_grad=True)
    x = lamina.randn(8)
    for _ in range(1000):  # warm up allocator caches
        step(w, x)
    gc.collect()
    tensors, nodes, rss = lamina._C._live_tensors(), lamina._C._live_nodes(), rss_bytes()
    for _ in range(STEPS):
        step(w, x)
        w.grad = None
    gc.collect()
    assert lamina._C._live_tensors() <= tensors, "tensors leaked"
    assert lamina._C._live_nodes() <= nodes, "graph nodes leaked"
    grown = rss_bytes() - rss
    assert grown < 8 << 20, f"process memory grew by {grown / 2**20:.1f} MiB over {STEPS} steps"


def test_plain_training_loop_is_flat():
    check_flat(plain_step)


def test_double_backward_loop_is_flat():
    check_flat(double_backward_step)


def test_custom_function_saving_outputs_is_flat():
    check_flat(function_step)


def test_graph_is_freed_when_output_dies():
    base = lamina._C._live_nodes()
    x = lamina.randn(4, requires_grad=True)
    y = x.exp().tanh().sum()
    assert lamina._C._live_nodes() > base
    del y
    gc.collect()
    assert lamina._C._live_nodes() == base  # x's AccumulateGrad is only held by the graph
    del x


class KeepOutputOnCtx(lamina.autograd.Function):
    """Keeps its output as a ctx attribute (not through save_for_backward): ctx -> out -> node -> ctx."""

    @staticmethod
    def forward(ctx, x):
        out = x * 2
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, g):
        return g * 2


def test_custom_function_keeping_output_on_ctx_is_collected():
    # regression: the cycle ran through C++ and Python's collector never freed it (~40 KB a call)
    w = lamina.randn(10_000, requires_grad=True)
    for _ in range(10):
        KeepOutputOnCtx.apply(w).sum().backward()
    gc.collect()
    tensors, nodes = lamina._C._live_tensors(), lamina._C._live_nodes()
    for _ in range(200):
        KeepOutputOnCtx.apply(w).sum().backward()
        y = KeepOutputOnCtx.apply(w)  # a graph never run backward
        del y
    gc.collect()
    assert lamina._C._live_tensors() <= tensors and lamina._C._live_nodes() <= nodes
    np.testing.assert_allclose(w.grad.numpy(), np.full(10_000, 2.0 * 210))
