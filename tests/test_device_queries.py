"""PyTorch's device-query names that scripts call on any machine (lamina has no GPU backend yet):
they answer as a CPU-only PyTorch build does."""

import pytest

import lamina
import lamina.backends.cudnn as cudnn


def test_cuda_reports_no_device_and_harmless_calls_pass():
    assert lamina.cuda.is_available() is False and lamina.cuda.device_count() == 0
    assert lamina.cuda.is_bf16_supported() is False and lamina.cuda.is_initialized() is False
    lamina.cuda.manual_seed(0)
    lamina.cuda.manual_seed_all(0)
    lamina.cuda.empty_cache()
    assert lamina.cuda.memory_allocated() == 0
    device = "cuda" if lamina.cuda.is_available() else "cpu"  # the line scripts start with
    assert lamina.zeros(2, device=device).device.type == "cpu"


@pytest.mark.parametrize("name", ["synchronize", "current_device", "get_device_name", "set_device"])
def test_cuda_calls_that_need_a_device_raise_as_pytorch(name):
    with pytest.raises(AssertionError, match=f"lamina.cuda.{name}: lamina not compiled with CUDA enabled"):
        getattr(lamina.cuda, name)(*([0] if name == "set_device" else []))


def test_backend_flags_are_settable_settings():
    assert lamina.backends.mps.is_available() is False and cudnn.is_available() is False
    old = cudnn.benchmark
    try:
        cudnn.benchmark = True
        cudnn.deterministic = True
        assert lamina.backends.cudnn.benchmark is True
    finally:
        cudnn.benchmark, cudnn.deterministic = old, False
    lamina.backends.cuda.matmul.allow_tf32 = True
    lamina.backends.cuda.matmul.allow_tf32 = False
    assert lamina.accelerator.is_available() is False and lamina.accelerator.current_accelerator() is None


@pytest.mark.torch
def test_answers_match_a_cpu_only_pytorch():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this PyTorch has CUDA")
    assert lamina.cuda.is_available() == torch.cuda.is_available()
    assert lamina.cuda.device_count() == torch.cuda.device_count()
    assert lamina.backends.mps.is_available() == torch.backends.mps.is_available()
    assert cudnn.enabled == torch.backends.cudnn.enabled and cudnn.benchmark == torch.backends.cudnn.benchmark


def test_tensor_and_module_cuda_raise_as_a_cpu_only_pytorch():
    with pytest.raises(AssertionError, match="not compiled with CUDA enabled"):
        lamina.ones(2).cuda()
    with pytest.raises(AssertionError, match="not compiled with CUDA enabled"):
        lamina.nn.Linear(2, 2).cuda()
    relu = lamina.nn.ReLU()
    assert relu.cuda() is relu  # nothing to move
    t = lamina.ones(2)
    assert t.is_cuda is False and t.is_xpu is False and t.is_mps is False
