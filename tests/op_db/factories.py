"""Factories, random draws and DLPack: not table-driven (their inputs are shapes and options, not
tensors); each is covered by the hand-written tests named here."""

SPECS = []

COVERED_ELSEWHERE = {
    **dict.fromkeys(["arange", "empty", "empty_like", "eye", "full", "full_like", "linspace", "ones", "ones_like",
                     "scalar_tensor", "zeros", "zeros_like", "randint_like"], "tests/test_creation.py"),
    **dict.fromkeys(["bernoulli", "normal", "rand", "rand_like", "randint", "randn", "randn_like",
                     "get_rng_state", "set_rng_state"], "tests/test_random.py"),
    **dict.fromkeys(["from_dlpack", "to_dlpack"], "tests/test_interop.py"),
}
