"""Threads: the kernel thread count, several Python threads using lamina at once, and the GIL
being released while kernels run."""

import threading
import time

import numpy as np
import pytest

import lamina


def test_num_threads_roundtrip(threads):
    threads(1)
    assert lamina.get_num_threads() == 1
    threads(3)
    assert lamina.get_num_threads() == 3
    with pytest.raises(ValueError, match="set_num_threads"):
        lamina.set_num_threads(0)


def test_results_do_not_depend_on_thread_count(threads):
    x = lamina.randn(1_000_003)
    m = lamina.randn(1009, 991)
    outs = []
    for n in (1, 2, 3):
        threads(n)
        outs.append([x.exp().numpy().tobytes(), x.sum().numpy().tobytes(), (x * x).mean().numpy().tobytes(),
                     m.sum(0).numpy().tobytes(), m.amax(1).numpy().tobytes(), m.t().sum(1).numpy().tobytes()])
    assert outs[0] == outs[1] == outs[2]


def test_python_threads_run_ops_and_backward_concurrently(threads):
    threads(2)
    errors, results = [], {}

    def work(k):
        try:
            rng = np.random.default_rng(k)
            a = rng.standard_normal((64, 128))
            w = lamina.tensor(a, requires_grad=True)
            for _ in range(50):
                loss = ((w * 2).tanh() * w).sum()
                w.grad = None
                loss.backward()
            expected = np.tanh(2 * a) + a * 2 * (1 - np.tanh(2 * a) ** 2)
            results[k] = np.abs(w.grad.numpy() - expected).max()
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    assert len(results) == 4 and max(results.values()) < 1e-12


def test_shared_leaf_accumulates_from_several_threads():
    w = lamina.ones(1000, dtype=lamina.float64, requires_grad=True)

    def work():
        for _ in range(20):
            (w * 3).sum().backward()

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    np.testing.assert_array_equal(w.grad.numpy(), np.full(1000, 4 * 20 * 3.0))


def test_gil_is_released_while_kernels_run(threads):
    threads(1)
    x = lamina.randn(20_000_000)
    x.exp()  # warm up (page faults)
    span = {}

    def heavy():
        span["start"] = time.perf_counter()
        for _ in range(3):
            x.exp()
        span["end"] = time.perf_counter()

    t = threading.Thread(target=heavy)
    ticks = []
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
    t.join()
    inside = [s for s in ticks if span["start"] < s < span["end"]]
    # With the GIL held the main thread could only run between the three calls.
    assert len(inside) > 100, f"main thread ran {len(inside)} times while kernels ran"
