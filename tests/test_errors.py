"""Invalid calls of the elementwise, reduction and view ops raise the exception type PyTorch raises,
with a message that names the op and the offending shapes, dims or values (never a crash).

Each case is `(id, call, exception, regex)`; `call(m, F)` runs on m = lamina (F = lamina) or, in
test_exception_types_match_torch, on m = torch (F = torch.nn.functional) to check that PyTorch
raises the same type. Families may add cases through OpSpec.errors. This file also runs under
AddressSanitizer (.ci/run): every tensor here is tiny."""

import re

import pytest

import lamina
from op_db import ALL_SPECS

I32, I64 = "int32", "int64"


def T(m, *shape, dtype="float32"):
    return m.ones(*shape, dtype=getattr(m, dtype))


def B(m, *shape):
    return m.ones(*shape, dtype=m.bool)


CASES = [
    # ---- unary ----
    ("neg_bool", lambda m, F: m.neg(B(m, 3)), RuntimeError, r"^neg: Negation, the `-` operator, on a bool tensor"),
    ("neg_operator_bool", lambda m, F: -B(m, 3), RuntimeError, r"neg: Negation"),
    ("abs_bool", lambda m, F: m.abs(B(m, 3)), NotImplementedError, r"^abs: not implemented for 'Bool'"),
    ("floor_bool", lambda m, F: m.floor(B(m, 2)), NotImplementedError, r"^floor: not implemented for 'Bool'"),
    ("trunc_bool", lambda m, F: B(m, 2).trunc(), NotImplementedError, r"^trunc: not implemented for 'Bool'"),
    ("relu_bool", lambda m, F: m.relu(B(m, 3)), RuntimeError, r"^relu: Boolean inputs not supported for relu"),
    ("gelu_int", lambda m, F: F.gelu(T(m, 3, dtype=I64)), NotImplementedError, r"^gelu: not implemented for 'Long'"),
    ("gelu_approximate", lambda m, F: F.gelu(T(m, 3), approximate="fast"), RuntimeError,
     r"^gelu: approximate argument must be either none or tanh, got 'fast'"),
    ("silu_int", lambda m, F: F.silu(T(m, 3, dtype=I32)), NotImplementedError, r"^silu: not implemented for 'Int'"),
    ("softplus_bool", lambda m, F: F.softplus(B(m, 3)), NotImplementedError, r"^softplus: not implemented for 'Bool'"),
    ("bitwise_not_float", lambda m, F: m.bitwise_not(T(m, 3)), NotImplementedError,
     r"^bitwise_not: not implemented for 'Float'"),
    ("invert_float", lambda m, F: ~T(m, 3), TypeError, r"~ \(operator.invert\) is only implemented on integer and "
                                                         r"Boolean-type tensors, got float32"),
    ("clamp_no_bounds", lambda m, F: m.clamp(T(m, 3)), RuntimeError,
     r"^clamp: At least one of 'min' or 'max' must not be None"),
    ("clamp_bool", lambda m, F: m.clamp(B(m, 3), True, False), NotImplementedError, r"^clamp: not implemented"),
    ("clamp_tensor_shapes", lambda m, F: m.clamp(T(m, 3), T(m, 2)), RuntimeError,
     r"^clamp: shapes \(3,\) and \(2,\) cannot be broadcast"),
    ("round_decimals_int", lambda m, F: m.round(T(m, 3, dtype=I64), decimals=1), NotImplementedError,
     r"^round: not implemented for 'Long'"),
    ("exp__int", lambda m, F: T(m, 3, dtype=I64).exp_(), RuntimeError,
     r"^exp_: result type Float can't be cast to the desired output type Long"),
    ("sqrt__bool", lambda m, F: B(m, 3).sqrt_(), RuntimeError,
     r"^sqrt_: result type Float can't be cast to the desired output type Bool"),
    ("clamp__float_bound_int", lambda m, F: T(m, 3, dtype=I32).clamp_(0.5), RuntimeError,
     r"^clamp_: result type Float can't be cast to the desired output type Int"),
    ("relu__expanded", lambda m, F: T(m, 1).expand(3).relu_(), RuntimeError,
     r"^relu_: unsupported operation: more than one element of the written-to tensor refers to a single memory"),
    # ---- binary ----
    ("add_shapes", lambda m, F: m.add(T(m, 2, 3), T(m, 4)), RuntimeError,
     r"^add: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
    ("mul_shapes", lambda m, F: T(m, 2, 1, 3) * T(m, 4, 2), RuntimeError,
     r"^mul: shapes \(2, 1, 3\) and \(4, 2\) cannot be broadcast"),
    ("div_shapes", lambda m, F: m.div(T(m, 3), T(m, 0)), RuntimeError, r"^div: shapes \(3,\) and \(0,\) cannot"),
    ("pow_shapes", lambda m, F: T(m, 5) ** T(m, 2, 3), RuntimeError, r"^pow: shapes \(5,\) and \(2, 3\)"),
    ("maximum_shapes", lambda m, F: m.maximum(T(m, 2), T(m, 3)), RuntimeError, r"^maximum: shapes \(2,\) and \(3,\)"),
    ("atan2_shapes", lambda m, F: m.atan2(T(m, 2), T(m, 3)), RuntimeError, r"^atan2: shapes \(2,\) and \(3,\)"),
    ("eq_shapes", lambda m, F: T(m, 2) == T(m, 3), RuntimeError, r"^eq: shapes \(2,\) and \(3,\)"),
    ("logical_and_shapes", lambda m, F: m.logical_and(B(m, 2), B(m, 3)), RuntimeError, r"^logical_and: shapes"),
    ("bitwise_xor_shapes", lambda m, F: m.bitwise_xor(B(m, 2), B(m, 3)), RuntimeError, r"^bitwise_xor: shapes"),
    ("sub_two_bools", lambda m, F: m.sub(B(m, 2), B(m, 2)), RuntimeError,
     r"^sub: Subtraction, the `-` operator, with two bool tensors is not supported"),
    ("sub_bool_int", lambda m, F: B(m, 2) - 1, RuntimeError,
     r"^sub: Subtraction, the `-` operator, with a bool tensor"),
    ("add_float_alpha_int", lambda m, F: m.add(T(m, 2, dtype=I64), T(m, 2, dtype=I64), alpha=0.5), RuntimeError,
     r"^add: For integral input tensors, argument alpha must not be a floating point number"),
    ("div_rounding_mode", lambda m, F: m.div(T(m, 2), 2, rounding_mode="round"), RuntimeError,
     r"^div: expected rounding_mode to be one of None, 'trunc', or 'floor' but found 'round'"),
    ("floor_divide_zero", lambda m, F: T(m, 2, dtype=I64) // 0, RuntimeError, r"^floor_divide: ZeroDivisionError"),
    ("remainder_zero", lambda m, F: m.remainder(T(m, 2, dtype=I32), m.zeros(2, dtype=m.int32)), RuntimeError,
     r"^remainder: ZeroDivisionError"),
    ("fmod_zero", lambda m, F: m.fmod(T(m, 2, dtype=I32), 0), RuntimeError, r"^fmod: ZeroDivisionError"),
    ("div_trunc_zero", lambda m, F: m.div(T(m, 2, dtype=I32), 0, rounding_mode="trunc"), RuntimeError,
     r"^div: ZeroDivisionError"),
    ("remainder_bool", lambda m, F: m.remainder(B(m, 2), B(m, 2)), NotImplementedError,
     r"^remainder: not implemented for 'Bool'"),
    ("floor_divide_bool", lambda m, F: m.floor_divide(B(m, 2), B(m, 2)), NotImplementedError,
     r"^floor_divide: not implemented for 'Bool'"),
    ("pow_bool", lambda m, F: m.pow(B(m, 2), B(m, 2)), NotImplementedError, r"^pow: not implemented for 'Bool'"),
    ("pow_negative_int_exponent", lambda m, F: m.pow(T(m, 2, dtype=I32), -1), RuntimeError,
     r"^pow: Integers to negative integer powers are not allowed"),
    ("pow__negative_int_exponent", lambda m, F: T(m, 2, dtype=I64).pow_(-2), RuntimeError,
     r"^pow_: Integers to negative integer powers are not allowed"),
    ("bitwise_and_float", lambda m, F: m.bitwise_and(T(m, 2), T(m, 2)), NotImplementedError,
     r"^bitwise_and: not implemented for 'Float'"),
    ("bitwise_or_double", lambda m, F: T(m, 2, dtype=I32) | 1.5, NotImplementedError,
     r"^bitwise_or: not implemented for 'Float'"),
    ("where_int_condition", lambda m, F: m.where(T(m, 2, dtype=I32), T(m, 2), T(m, 2)), RuntimeError,
     r"^where: expected condition to be a boolean tensor, but got a tensor with dtype Int"),
    ("where_shapes", lambda m, F: m.where(B(m, 2), T(m, 3), 0.0), RuntimeError, r"^where: shapes \(2,\) and \(3,\)"),
    ("add_string", lambda m, F: T(m, 2) + "a", TypeError, r"add: unsupported operand type str"),
    ("mul_none", lambda m, F: m.mul(T(m, 2), None), TypeError, r"mul"),
    ("exp_not_a_tensor", lambda m, F: m.exp([1.0]), TypeError, r"^exp\(\): incompatible function arguments"),
    ("sum_unknown_keyword", lambda m, F: T(m, 2).sum(bogus=0), TypeError, r"^sum\(\): incompatible function arguments"),
    ("clamp_string_bound", lambda m, F: T(m, 2).clamp("a"), TypeError, r"^clamp: expected a number or None"),
    ("add__shape_change", lambda m, F: T(m, 3).add_(T(m, 2, 3)), RuntimeError,
     r"^add_: output with shape \(3,\) doesn't match the broadcast shape \(2, 3\)"),
    ("mul__float_into_int", lambda m, F: T(m, 3, dtype=I32).mul_(1.5), RuntimeError,
     r"^mul_: result type Float can't be cast to the desired output type Int"),
    ("add__leaf", lambda m, F: m.ones(2, requires_grad=True).add_(1), RuntimeError,
     r"^add_: a leaf Variable that requires grad is being used in an in-place operation"),
    # ---- reductions ----
    ("sum_dim", lambda m, F: T(m, 2, 3).sum(dim=2), IndexError,
     r"^sum: dim 2 out of range for a 2-d tensor \(expected in \[-2, 1\]\)"),
    ("sum_repeated_dims", lambda m, F: T(m, 2, 3).sum(dim=(0, -2)), RuntimeError,
     r"^sum: dim 0 appears multiple times in the list of dims"),
    ("sum_dim_type", lambda m, F: T(m, 2).sum(dim="0"), TypeError, r"^sum: dim must be an int"),
    ("sum_0d_dim", lambda m, F: m.tensor(1.0).sum(1), IndexError, r"^sum: dim 1 out of range for a 0-d tensor"),
    ("mean_int", lambda m, F: T(m, 2, dtype=I64).mean(), RuntimeError,
     r"^mean\(\): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
     r"Got: int64"),
    ("mean_int_dtype", lambda m, F: T(m, 2).mean(dtype=m.int64), RuntimeError, r"^mean\(\): could not infer output"),
    ("mean_dim", lambda m, F: T(m, 2, 3).mean(-3), IndexError, r"^mean: dim -3 out of range for a 2-d tensor"),
    ("prod_dim", lambda m, F: T(m, 2).prod(1), IndexError, r"^prod: dim 1 out of range for a 1-d tensor"),
    ("amax_empty", lambda m, F: m.zeros(0, 3).amax(), RuntimeError,
     r"^amax\(\): Expected reduction dim to be specified for input.numel\(\) == 0"),
    ("amin_empty_dim", lambda m, F: m.zeros(0, 3).amin(0), IndexError,
     r"^amin\(\): Expected reduction dim 0 to have non-zero size"),
    ("max_empty", lambda m, F: m.zeros(0).max(), RuntimeError, r"^max\(\): Expected reduction dim to be specified"),
    ("min_empty_dim", lambda m, F: m.zeros(2, 0).min(1), IndexError,
     r"^min\(\): Expected reduction dim 1 to have non-zero size"),
    ("max_dim", lambda m, F: T(m, 2).max(3), IndexError, r"^max: dim 3 out of range for a 1-d tensor"),
    ("argmax_empty", lambda m, F: m.zeros(0, 2).argmax(), IndexError,
     r"^argmax\(\): Expected reduction dim to be specified for input.numel\(\) == 0"),
    ("argmin_bool", lambda m, F: B(m, 2).argmin(), RuntimeError, r"^argmin\(\): does not support bool input"),
    ("argmax_dim", lambda m, F: T(m, 2).argmax(-2), IndexError, r"^argmax: dim -2 out of range for a 1-d tensor"),
    ("var_int", lambda m, F: T(m, 3, dtype=I32).var(), RuntimeError,
     r"^var: std and var only support floating point and complex dtypes, got int32"),
    ("std_bool", lambda m, F: B(m, 3).std(), RuntimeError, r"^std: std and var only support floating point"),
    ("std_dim", lambda m, F: T(m, 2, 3).std(3), IndexError, r"^std: dim 3 out of range for a 2-d tensor"),
    ("logsumexp_dim", lambda m, F: T(m, 2).logsumexp(2), IndexError, r"^logsumexp: dim 2 out of range"),
    ("norm_int", lambda m, F: T(m, 2, dtype=I64).norm(), RuntimeError,
     r"^norm: Expected a floating point tensor as input. Got int64"),
    ("norm_order", lambda m, F: T(m, 2).norm(p="nuc"), RuntimeError, r"^norm: Order nuc not supported"),
    ("norm_inf_empty", lambda m, F: m.zeros(0).norm(float("inf")), RuntimeError,
     r"^norm: cannot compute the inf norm on an empty tensor"),
    ("norm_dim", lambda m, F: T(m, 2).norm(2, 1), IndexError, r"^norm: dim 1 out of range for a 1-d tensor"),
    ("cumsum_dim", lambda m, F: T(m, 2, 3).cumsum(2), IndexError, r"^cumsum: dim 2 out of range for a 2-d tensor"),
    ("all_dim", lambda m, F: B(m, 2).all(1), IndexError, r"^all: dim 1 out of range for a 1-d tensor"),
    ("any_repeated", lambda m, F: B(m, 2, 2).any((1, 1)), RuntimeError, r"^any: dim 1 appears multiple times"),
    # ---- views ----
    ("view_size", lambda m, F: T(m, 6).view(5), RuntimeError, r"^view: shape '\(5,\)' is invalid for input of size 6"),
    ("view_two_minus_one", lambda m, F: T(m, 6).view(-1, -1), RuntimeError,
     r"^view: only one dimension can be inferred"),
    ("view_zero_elements_ambiguous", lambda m, F: T(m, 0).view(0, -1), RuntimeError,
     r"^view: shape '\(0, -1\)' is invalid for input of size 0"),
    ("view_strides", lambda m, F: T(m, 2, 3).t().view(6), RuntimeError,
     r"^view: view size is not compatible with input tensor's size and stride"),
    ("view_type", lambda m, F: T(m, 6).view("a"), TypeError, r"^view: size must"),
    ("reshape_size", lambda m, F: m.reshape(T(m, 6), (4, -1)), RuntimeError,
     r"^reshape: shape '\(4, -1\)' is invalid for input of size 6"),
    ("permute_repeated", lambda m, F: T(m, 2, 3).permute(0, 0), RuntimeError, r"^permute: repeated dim 0"),
    ("permute_count", lambda m, F: T(m, 2, 3).permute(0), RuntimeError,
     r"^permute: number of dims don't match in permute: got 1 dims for a 2-d tensor"),
    ("permute_dim", lambda m, F: m.permute(T(m, 2, 3), (0, 2)), IndexError, r"^permute: dim 2 out of range"),
    ("transpose_dim", lambda m, F: T(m, 2, 3).transpose(0, 2), IndexError,
     r"^transpose: dim 2 out of range for a 2-d tensor"),
    ("swapaxes_dim", lambda m, F: m.swapaxes(T(m, 2), -2, 0), IndexError, r"^transpose: dim -2 out of range"),
    ("t_3d", lambda m, F: T(m, 2, 3, 4).t(), RuntimeError,
     r"^t: t\(\) expects a tensor with <= 2 dimensions, but self is 3D"),
    ("mT_1d", lambda m, F: T(m, 3).mT, RuntimeError,
     r"^mT: tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor"),
    ("expand_size", lambda m, F: T(m, 2, 3).expand(3, 3), RuntimeError,
     r"^expand: the expanded size of the tensor \(3\) must match the existing size \(2\) at non-singleton "
     r"dimension 0.  Target sizes: \(3, 3\).  Tensor sizes: \(2, 3\)"),
    ("expand_fewer_sizes", lambda m, F: T(m, 2, 3).expand(3), RuntimeError,
     r"^expand: the number of sizes provided \(1\) must be greater or equal to the number of dimensions in the "
     r"tensor \(2\)"),
    ("expand_new_dim_minus_one", lambda m, F: T(m, 3).expand(-1, 3), RuntimeError,
     r"^expand: the expanded size of the tensor \(-1\) isn't allowed in a leading, non-existing dimension 0"),
    ("expand_as_shape", lambda m, F: T(m, 2).expand_as(T(m, 3)), RuntimeError, r"^expand: the expanded size"),
    ("squeeze_dim", lambda m, F: T(m, 2, 1).squeeze(2), IndexError, r"^squeeze: dim 2 out of range for a 2-d tensor"),
    ("squeeze_repeated", lambda m, F: T(m, 1, 1).squeeze((0, -2)), RuntimeError,
     r"^squeeze: dim 0 appears multiple times"),
    ("unsqueeze_dim", lambda m, F: T(m, 2, 3).unsqueeze(4), IndexError, r"^unsqueeze: dim 4 out of range"),
    ("flatten_order", lambda m, F: T(m, 2, 3).flatten(1, 0), RuntimeError,
     r"^flatten: flatten\(\) has invalid args: start_dim cannot come after end_dim"),
    ("flatten_dim", lambda m, F: T(m, 2, 3).flatten(0, 5), IndexError, r"^flatten: dim 5 out of range"),
    ("flatten_0d_dim", lambda m, F: m.tensor(1.0).flatten(0, 1), IndexError, r"^flatten: dim 1 out of range"),
    ("unflatten_sizes", lambda m, F: T(m, 6).unflatten(0, (4, -1)), RuntimeError,
     r"^unflatten: shape '\(4, -1\)' is invalid for input of size 6"),
    ("unflatten_0d", lambda m, F: m.tensor(1.0).unflatten(0, (1,)), RuntimeError,
     r"^unflatten: Dimension specified as 0 but tensor has no dimensions"),
    ("narrow_length", lambda m, F: T(m, 6).narrow(0, 2, 5), RuntimeError,
     r"^narrow: start \(2\) \+ length \(5\) exceeds dimension size \(6\)"),
    ("narrow_start", lambda m, F: T(m, 6).narrow(0, 7, 0), IndexError,
     r"^narrow: start \(7\) out of range for dimension 0 of size 6"),
    ("narrow_negative_length", lambda m, F: T(m, 6).narrow(0, 0, -1), RuntimeError, r"^narrow: start \(0\) \+ length"),
    ("narrow_0d", lambda m, F: m.tensor(1.0).narrow(0, 0, 1), RuntimeError, r"narrow\(\) cannot be applied to a 0-dim"),
    ("select_index", lambda m, F: T(m, 6).select(0, 6), IndexError,
     r"^select: index 6 is out of bounds for dimension 0 with size 6"),
    ("select_negative_index", lambda m, F: m.select(T(m, 2, 3), 1, -4), IndexError,
     r"^select: index -4 is out of bounds for dimension 1 with size 3"),
    ("select_0d", lambda m, F: m.tensor(1.0).select(0, 0), IndexError, r"select\(\) cannot be applied to a 0-dim"),
    ("diagonal_same_dims", lambda m, F: T(m, 2, 3).diagonal(0, 1, -1), RuntimeError,
     r"^diagonal: dimensions cannot be identical 1, -1"),
    ("diagonal_1d", lambda m, F: T(m, 3).diagonal(), IndexError, r"^diagonal: dim 1 out of range for a 1-d tensor"),
    ("unbind_0d", lambda m, F: m.tensor(1.0).unbind(), IndexError,
     r"^unbind: dimension specified as 0 but tensor has no dimensions"),
    ("unbind_dim", lambda m, F: T(m, 2).unbind(1), IndexError, r"^unbind: dim 1 out of range"),
    ("chunk_zero", lambda m, F: T(m, 6).chunk(0), RuntimeError, r"chunk expects `chunks` to be greater than 0, got: 0"),
    ("split_sizes_sum", lambda m, F: T(m, 6).split([2, 2]), RuntimeError,
     r"^split_with_sizes: expects split_sizes to sum exactly to 6 \(input tensor's size at dimension 0\), but got "
     r"split_sizes with sum 4"),
    ("split_negative_size", lambda m, F: T(m, 6).split([-1, 7]), RuntimeError,
     r"^split_with_sizes: expects split_sizes have only non-negative entries, but got -1"),
    ("split_zero", lambda m, F: T(m, 6).split(0), RuntimeError,
     r"^split: split_size can only be 0 if dimension size is 0, but got dimension size of 6"),
    ("split_dim", lambda m, F: T(m, 6).split(2, 1), IndexError, r"^split: dim 1 out of range"),
    ("movedim_lengths", lambda m, F: T(m, 2, 3).movedim((0, 1), (0,)), RuntimeError,
     r"^movedim: Invalid source or destination dims: source \(\(0, 1\) dims\) should contain the same number of "
     r"dims as destination \(\(0,\) dims\)"),
    ("movedim_dim", lambda m, F: T(m, 2, 3).movedim(0, 2), IndexError, r"^movedim: dim 2 out of range"),
    ("movedim_repeated", lambda m, F: T(m, 2, 3).movedim((0, 0), (0, 1)), RuntimeError,
     r"^movedim: dim 0 appears multiple times"),
    ("as_strided_negative_stride", lambda m, F: T(m, 6).as_strided((3,), (-1,)), RuntimeError,
     r"^as_strided: negative strides are not supported, got -1"),
    ("as_strided_bounds", lambda m, F: T(m, 6).as_strided((7,), (1,)), RuntimeError,
     r"^as_strided: setStorage: sizes \(7,\), strides \(1,\), storage offset 0 requiring 28 bytes is out of bounds "
     r"for storage of size 24"),
    ("as_strided_lengths", lambda m, F: T(m, 6).as_strided((3, 2), (1,)), RuntimeError,
     r"^as_strided: mismatch in length of strides and shape"),
    ("as_strided_negative_offset", lambda m, F: T(m, 6).as_strided((3,), (1,), -1), RuntimeError,
     r"^as_strided: negative storage offset -1"),
]

SPEC_CASES = [(f"{s.name}_{i}", (lambda call: lambda m, F: call())(call), exc, regex)
              for s in ALL_SPECS for i, (call, exc, regex) in enumerate(s.errors)]


@pytest.mark.parametrize("name,call,exc,regex", CASES + SPEC_CASES, ids=[c[0] for c in CASES + SPEC_CASES])
def test_invalid_call_raises(name, call, exc, regex):
    with pytest.raises(exc) as info:
        call(lamina, lamina)
    assert type(info.value) is exc, f"{name}: raised {type(info.value).__name__}, expected {exc.__name__}"
    assert re.search(regex, str(info.value)), f"{name}: message {str(info.value)!r} does not match {regex!r}"


@pytest.mark.torch
def test_exception_types_match_torch():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    mismatched = []
    for name, call, exc, _ in CASES:
        try:
            call(torch, F)
            outcome = "no error"
        except Exception as e:  # noqa: BLE001  (the exception type is what is compared)
            outcome = type(e).__name__
        if outcome != exc.__name__:
            mismatched.append(f"{name}: torch {outcome}, lamina {exc.__name__}")
    assert not mismatched, "\n".join(mismatched)


def test_no_error_leaves_a_tensor_modified():
    """A rejected in-place op writes nothing and does not bump the version."""
    x = lamina.ones(3, dtype=lamina.int32)
    for call in (lambda: x.add_(1.5), lambda: x.add_(lamina.ones(2, 3, dtype=lamina.int32)), lambda: x.exp_(),
                 lambda: x.floor_divide_(0), lambda: x.pow_(-1), lambda: x.clamp_(0.5)):
        with pytest.raises(RuntimeError):
            call()
    assert x.tolist() == [1, 1, 1] and x._version == 0


def test_non_integer_index_arguments_raise_instead_of_crashing():
    """Regression: objects whose __index__ raises (a float tensor) used to crash the binding."""
    f = lamina.tensor(0.5, dtype=lamina.float64)
    with pytest.raises(TypeError, match="index"):
        lamina.randint_like(lamina.zeros(2), f, f)
    with pytest.raises(TypeError):
        lamina.rand(lamina.float32, f)
    with pytest.raises(TypeError):
        lamina.ones(3).view(f)


def test_impossible_allocations_name_the_op_the_bytes_and_the_tensor():
    # Was a bare "MemoryError: std::bad_alloc".
    with pytest.raises(MemoryError, match=r"zeros: not enough memory: tried to allocate 8796093022208 bytes "
                                          r"\(8192.00 GiB\) for a float64 tensor of shape \(274877906944, 4\) on cpu"):
        lamina.zeros(2**38, 4, dtype=lamina.float64)
    with pytest.raises(MemoryError, match=r"^ones: not enough memory: tried to allocate 12000000000000 bytes"):
        lamina.ones(3, 10**12)
    with pytest.raises(MemoryError, match=r"^allocating an op's result: not enough memory: .* shape \(1048576, 1048576\)"):
        lamina.ones(1, 2**20).expand(2**20, 2**20).contiguous()


# ---- embeddings (F.embedding, F.embedding_bag) ----
EMBEDDING_CASES = [
    ("embedding_float_indices", lambda m, F: F.embedding(T(m, 2, 3), T(m, 5, 2)), RuntimeError,
     r"^embedding: Expected tensor for argument 'indices' to have one of the following scalar types: Long, Int; "
     r"but got a float32 tensor of shape \(2, 3\)"),
    ("embedding_index_past_the_end", lambda m, F: F.embedding(m.tensor([0, 5]), T(m, 5, 2)), IndexError,
     r"^embedding: index 5 out of range for a weight of 5 rows \(expected in \[0, 4\]\)"),
    ("embedding_negative_index", lambda m, F: F.embedding(m.tensor([[-1]]), T(m, 5, 2)), IndexError,
     r"^embedding: index -1 out of range"),
    ("embedding_weight_1d", lambda m, F: F.embedding(m.tensor([0]), T(m, 5)), RuntimeError,
     r"^embedding: 'weight' must be 2-D"),
    ("embedding_padding_idx", lambda m, F: F.embedding(m.tensor([0]), T(m, 5, 2), padding_idx=5), AssertionError,
     r"^embedding: padding_idx must be within num_embeddings \(5\)"),
    ("embedding_bag_float_offsets", lambda m, F: F.embedding_bag(m.tensor([0, 1]), T(m, 5, 2), T(m, 1)), RuntimeError,
     r"^embedding_bag: Expected tensor for argument 'offsets'"),
    ("embedding_bag_first_offset", lambda m, F: F.embedding_bag(m.tensor([0, 1]), T(m, 5, 2), m.tensor([1])),
     RuntimeError, r"^embedding_bag: offsets\[0\] has to be 0"),
    ("embedding_bag_offset_past_end", lambda m, F: F.embedding_bag(m.tensor([0, 1]), T(m, 5, 2), m.tensor([0, 3])),
     RuntimeError, r"^embedding_bag: offsets\[-1\] can not be greater than input's length 2, but got 3"),
    ("embedding_bag_2d_with_offsets", lambda m, F: F.embedding_bag(m.tensor([[0, 1]]), T(m, 5, 2), m.tensor([0])),
     ValueError, r"^embedding_bag: if input is 2-D, then offsets has to be None"),
    ("embedding_bag_1d_without_offsets", lambda m, F: F.embedding_bag(m.tensor([0, 1]), T(m, 5, 2)), ValueError,
     r"^embedding_bag: offsets has to be a 1-D tensor"),
    ("embedding_bag_3d", lambda m, F: F.embedding_bag(m.tensor([[[0]]]), T(m, 5, 2)), ValueError,
     r"^embedding_bag: input has to be a 1-D or 2-D tensor, but got shape \(1, 1, 1\)"),
    ("embedding_bag_mode", lambda m, F: F.embedding_bag(m.tensor([[0]]), T(m, 5, 2), mode="min"), ValueError,
     r"^embedding_bag: mode has to be one of sum, mean or max"),
    ("embedding_bag_weights_mean", lambda m, F: F.embedding_bag(m.tensor([[0]]), T(m, 5, 2), per_sample_weights=T(m, 1, 1)),
     NotImplementedError, r"^embedding_bag: per_sample_weights is only supported for mode='sum'"),
    ("embedding_bag_weights_shape",
     lambda m, F: F.embedding_bag(m.tensor([[0]]), T(m, 5, 2), mode="sum", per_sample_weights=T(m, 2)), ValueError,
     r"^embedding_bag: per_sample_weights of shape \(2,\) must have the same shape as the input \(1, 1\)"),
    ("embedding_bag_max_freq", lambda m, F: F.embedding_bag(m.tensor([[0]]), T(m, 5, 2), mode="max",
                                                            scale_grad_by_freq=True), ValueError,
     r"^embedding_bag: max mode does not support scaling the gradient by the frequency"),
    ("embedding_bag_padding_idx", lambda m, F: F.embedding_bag(m.tensor([[0]]), T(m, 5, 2), padding_idx=-6),
     RuntimeError, r"^embedding_bag: padding_idx must be within num_embeddings \(5\)"),
]


@pytest.mark.parametrize("name,call,exc,regex", EMBEDDING_CASES, ids=[c[0] for c in EMBEDDING_CASES])
def test_embedding_invalid_call_raises(name, call, exc, regex):
    import lamina.nn.functional as F

    with pytest.raises(exc) as info:
        call(lamina, F)
    assert type(info.value) is exc, f"{name}: raised {type(info.value).__name__}, expected {exc.__name__}"
    assert re.search(regex, str(info.value)), f"{name}: message {str(info.value)!r} does not match {regex!r}"


@pytest.mark.torch
def test_embedding_exception_types_match_torch():
    """Out-of-range indices in embedding_bag are the exception: lamina raises IndexError as for
    embedding, torch 2.13 a RuntimeError ("Expected i < index_size"); that case is not listed above."""
    torch = pytest.importorskip("torch")
    if not hasattr(torch, "tensor"):
        pytest.skip("PyTorch is not installed")
    mismatched = []
    for name, call, exc, _ in EMBEDDING_CASES:
        try:
            call(torch, torch.nn.functional)
            outcome = "no error"
        except Exception as e:  # noqa: BLE001  (the exception type is what is compared)
            outcome = type(e).__name__
        if outcome != exc.__name__:
            mismatched.append(f"{name}: torch {outcome}, lamina {exc.__name__}")
    assert not mismatched, "\n".join(mismatched)


# ---- MultiheadAttention and the Transformer modules ----
# (id, call(m) with m = lamina or torch, exception, regex). Messages name the op and the shapes.

def _mha(m, **kw):
    return m.nn.MultiheadAttention(4, 2, **kw)


def _seq(m, *shape):
    return m.ones(*shape)


ATTENTION_CASES = [
    ("mha_not_divisible", lambda m: m.nn.MultiheadAttention(5, 2), AssertionError,
     r"^embed_dim must be divisible by num_heads"),
    ("mha_nonpositive", lambda m: m.nn.MultiheadAttention(0, 2), ValueError,
     r"embed_dim and num_heads must be greater than 0, got embed_dim=0 and num_heads=2"),
    ("mha_query_4d", lambda m: _mha(m)(*[_seq(m, 1, 3, 2, 4)] * 3), AssertionError,
     r"multi_head_attention_forward: query should be unbatched 2D or batched 3D tensor but received 4-D query "
     r"tensor of shape \(1, 3, 2, 4\)"),
    ("mha_key_rank", lambda m: _mha(m)(_seq(m, 3, 2, 4), _seq(m, 3, 4), _seq(m, 3, 4)), AssertionError,
     r"expected `key` and `value` to be 3-D but found 2-D and 2-D tensors respectively \(shapes \(3, 4\)"),
    ("mha_embed_dim", lambda m: _mha(m)(*[_seq(m, 3, 2, 6)] * 3), AssertionError,
     r"multi_head_attention_forward: was expecting embedding dimension of 4, but got 6 \(query of shape \(3, 2, 6\)"),
    ("mha_key_value_shapes", lambda m: _mha(m)(_seq(m, 3, 2, 4), _seq(m, 3, 2, 4), _seq(m, 5, 2, 4)), AssertionError,
     r"multi_head_attention_forward: key shape \(3, 2, 4\) does not match value shape \(5, 2, 4\)"),
    ("mha_batch_mismatch", lambda m: _mha(m)(_seq(m, 3, 2, 4), _seq(m, 3, 5, 4), _seq(m, 3, 5, 4)), RuntimeError,
     r"multi_head_attention_forward: query batch size 2 does not match key batch size 5 \(query \(3, 2, 4\), "
     r"key \(3, 5, 4\)\)"),
    ("mha_attn_mask_2d_shape", lambda m: _mha(m)(*[_seq(m, 3, 2, 4)] * 3, attn_mask=m.zeros(3, 4)), RuntimeError,
     r"multi_head_attention_forward: the shape of the 2D attn_mask is \(3, 4\), but should be \(3, 3\)"),
    ("mha_attn_mask_3d_shape", lambda m: _mha(m)(*[_seq(m, 3, 2, 4)] * 3, attn_mask=m.zeros(2, 3, 3)),
     RuntimeError, r"the shape of the 3D attn_mask is \(2, 3, 3\), but should be \(4, 3, 3\)"),
    ("mha_attn_mask_4d", lambda m: _mha(m)(*[_seq(m, 3, 2, 4)] * 3, attn_mask=m.zeros(1, 4, 3, 3)),
     AssertionError, r"expected `attn_mask` to be `None`, 2-D or 3-D but found 4-D tensor of shape \(1, 4, 3, 3\)"),
    ("mha_attn_mask_int", lambda m: _mha(m)(*[_seq(m, 3, 2, 4)] * 3, attn_mask=m.zeros(3, 3, dtype=m.int64)),
     AssertionError, r"only bool and floating types of attn_mask are supported"),
    ("mha_unbatched_3d_mask", lambda m: _mha(m)(*[_seq(m, 3, 4)] * 3, attn_mask=m.zeros(1, 3, 3)), AssertionError,
     r"expected `attn_mask` shape to be \(2, 3, 3\) but got \(1, 3, 3\)"),
    ("mha_key_padding_mask_len", lambda m: _mha(m)(*[_seq(m, 3, 2, 4)] * 3,
                                                    key_padding_mask=m.zeros(2, 5, dtype=m.bool)), AssertionError,
     r"expected key_padding_mask of shape \(2, 3\), but got \(2, 5\)"),
    ("mha_key_padding_mask_batch", lambda m: _mha(m)(*[_seq(m, 3, 2, 4)] * 3,
                                                      key_padding_mask=m.zeros(3, 3, dtype=m.bool)), AssertionError,
     r"expected key_padding_mask of shape \(2, 3\), but got \(3, 3\)"),
    ("mha_key_padding_mask_rank", lambda m: _mha(m)(*[_seq(m, 3, 2, 4)] * 3,
                                                     key_padding_mask=m.zeros(3, dtype=m.bool)), AssertionError,
     r"expected `key_padding_mask` to be `None` or 2-D but found 1-D tensor of shape \(3,\)"),
    ("mha_causal_without_mask", lambda m: _mha(m)(*[_seq(m, 3, 2, 4)] * 3, is_causal=True), RuntimeError,
     r"Need attn_mask if specifying the is_causal hint"),
    ("encoder_layer_activation", lambda m: m.nn.TransformerEncoderLayer(4, 2, activation="tanh"), RuntimeError,
     r"^activation should be relu/gelu, not tanh"),
    ("encoder_layer_mask", lambda m: m.nn.TransformerEncoderLayer(4, 2, 8)(_seq(m, 3, 2, 4), src_mask=m.zeros(2, 2)),
     RuntimeError, r"the shape of the 2D attn_mask is \(2, 2\), but should be \(3, 3\)"),
    ("decoder_layer_memory_batch", lambda m: m.nn.TransformerDecoderLayer(4, 2, 8)(_seq(m, 3, 2, 4),
                                                                                   _seq(m, 5, 3, 4)), RuntimeError,
     r"query batch size 2 does not match key batch size 3"),
    ("transformer_batch", lambda m: m.nn.Transformer(4, 2, 1, 1, 8)(_seq(m, 3, 2, 4), _seq(m, 3, 5, 4)), RuntimeError,
     r"Transformer: the batch number of src and tgt must be equal, got src \(3, 2, 4\) and tgt \(3, 5, 4\)"),
    ("transformer_d_model", lambda m: m.nn.Transformer(4, 2, 1, 1, 8)(_seq(m, 3, 2, 4), _seq(m, 3, 2, 6)),
     RuntimeError, r"Transformer: the feature number of src and tgt must be equal to d_model \(4\), got src "
                   r"\(3, 2, 4\) and tgt \(3, 2, 6\)"),
]


@pytest.mark.parametrize("name,call,exc,regex", ATTENTION_CASES, ids=[c[0] for c in ATTENTION_CASES])
def test_attention_modules_invalid_call_raises(name, call, exc, regex):
    with pytest.raises(exc) as info:
        call(lamina)
    assert type(info.value) is exc, f"{name}: raised {type(info.value).__name__}, expected {exc.__name__}"
    assert re.search(regex, str(info.value), re.IGNORECASE), f"{name}: message {str(info.value)!r} does not match"


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:enable_nested_tensor")
def test_attention_modules_exception_types_match_torch():
    torch = pytest.importorskip("torch")
    mismatched = []
    for name, call, exc, _ in ATTENTION_CASES:
        try:
            call(torch)
            outcome = "no error"
        except Exception as e:  # noqa: BLE001  (the exception type is what is compared)
            outcome = type(e).__name__
        if outcome != exc.__name__:
            mismatched.append(f"{name}: torch {outcome}, lamina {exc.__name__}")
    assert not mismatched, "\n".join(mismatched)


# ---- recurrent layers and nn.utils.rnn: call(m) with m = lamina or torch ----
def _x(m, *shape, dtype="float32"):
    return m.ones(*shape, dtype=getattr(m, dtype))


def _pack(m, x, lengths, **kw):
    return m.nn.utils.rnn.pack_padded_sequence(x, lengths, **kw)


RNN_CASES = [
    ("lstm_input_size", lambda m: m.nn.LSTM(3, 4)(_x(m, 5, 2, 6)), RuntimeError,
     r"LSTM: input.size\(-1\) must be equal to input_size. Expected 3, got 6 \(input shape \(5, 2, 6\)\)"),
    ("lstm_input_4d", lambda m: m.nn.LSTM(3, 4)(_x(m, 1, 5, 2, 3)), ValueError,
     r"LSTM: Expected input to be 2D or 3D, got 4D instead \(shape \(1, 5, 2, 3\)\)"),
    ("gru_input_1d", lambda m: m.nn.GRU(3, 4)(_x(m, 3)), ValueError, r"GRU: Expected input to be 2D or 3D, got 1D"),
    ("rnn_empty_sequence", lambda m: m.nn.RNN(3, 4)(_x(m, 0, 2, 3)), RuntimeError,
     r"RNN: Expected sequence length to be larger than 0 in RNN"),
    ("lstm_hidden_batch", lambda m: m.nn.LSTM(3, 4)(_x(m, 5, 2, 3), (_x(m, 1, 3, 4), _x(m, 1, 3, 4))), RuntimeError,
     r"LSTM: Expected hidden\[0\] size \(1, 2, 4\), got \[1, 3, 4\]"),
    ("lstm_cell_state_size", lambda m: m.nn.LSTM(3, 4)(_x(m, 5, 2, 3), (_x(m, 1, 2, 4), _x(m, 1, 2, 5))),
     RuntimeError, r"LSTM: Expected hidden\[1\] size \(1, 2, 4\), got \[1, 2, 5\]"),
    ("lstm_proj_hidden", lambda m: m.nn.LSTM(3, 4, proj_size=2)(_x(m, 5, 2, 3), (_x(m, 1, 2, 4), _x(m, 1, 2, 4))),
     RuntimeError, r"LSTM: Expected hidden\[0\] size \(1, 2, 2\), got \[1, 2, 4\]"),
    ("gru_hidden_layers", lambda m: m.nn.GRU(3, 4, num_layers=2)(_x(m, 5, 2, 3), _x(m, 1, 2, 4)), RuntimeError,
     r"GRU: Expected hidden size \(2, 2, 4\), got \[1, 2, 4\]"),
    ("rnn_bidirectional_hidden", lambda m: m.nn.RNN(3, 4, bidirectional=True)(_x(m, 5, 2, 3), _x(m, 1, 2, 4)),
     RuntimeError, r"RNN: Expected hidden size \(2, 2, 4\), got \[1, 2, 4\]"),
    ("rnn_hidden_2d_for_batched", lambda m: m.nn.RNN(3, 4)(_x(m, 5, 2, 3), _x(m, 2, 4)), RuntimeError,
     r"RNN: For batched 3-D input, hx should also be 3-D but got 2-D tensor"),
    ("gru_hidden_3d_for_unbatched", lambda m: m.nn.GRU(3, 4)(_x(m, 5, 3), _x(m, 1, 1, 4)), RuntimeError,
     r"GRU: For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"),
    ("lstm_hx_cx_dims", lambda m: m.nn.LSTM(3, 4)(_x(m, 5, 2, 3), (_x(m, 1, 2, 4), _x(m, 2, 4))), RuntimeError,
     r"LSTM: For batched 3-D input, hx and cx should also be 3-D but got \(3-D, 2-D\) tensors"),
    ("rnn_dtype", lambda m: m.nn.RNN(3, 4)(_x(m, 5, 2, 3, dtype="float64")), ValueError,
     r"RNN: input dtype \(.*float64\) does not match weight dtype \(.*float32\)"),
    ("lstm_packed_input_size", lambda m: m.nn.LSTM(3, 4)(_pack(m, _x(m, 5, 2, 6), [5, 3])), RuntimeError,
     r"LSTM: input.size\(-1\) must be equal to input_size. Expected 3, got 6"),
    ("gru_packed_hidden_batch", lambda m: m.nn.GRU(3, 4)(_pack(m, _x(m, 5, 2, 3), [5, 3]), _x(m, 1, 3, 4)),
     RuntimeError, r"GRU: Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]"),
    ("lstm_hidden_size_zero", lambda m: m.nn.LSTM(3, 0), ValueError, r"LSTM: hidden_size must be greater than zero"),
    ("gru_num_layers_zero", lambda m: m.nn.GRU(3, 4, num_layers=0), ValueError,
     r"GRU: num_layers must be greater than zero"),
    ("lstm_dropout_range", lambda m: m.nn.LSTM(3, 4, num_layers=2, dropout=1.5), ValueError,
     r"LSTM: dropout should be a number in range \[0, 1\]"),
    ("lstm_proj_too_big", lambda m: m.nn.LSTM(3, 4, proj_size=4), ValueError,
     r"LSTM: proj_size has to be smaller than hidden_size"),
    ("lstm_proj_negative", lambda m: m.nn.LSTM(3, 4, proj_size=-1), ValueError,
     r"LSTM: proj_size should be a positive integer or zero"),
    ("rnn_hidden_size_float", lambda m: m.nn.RNN(3, 4.0), TypeError, r"RNN: hidden_size should be of type int"),
    ("rnn_nonlinearity", lambda m: m.nn.RNN(3, 4, nonlinearity="gelu"), ValueError,
     r"RNN: Unknown nonlinearity 'gelu'"),
    ("rnn_cell_input_3d", lambda m: m.nn.RNNCell(3, 4)(_x(m, 1, 2, 3)), ValueError,
     r"RNNCell: Expected input to be 1D or 2D, got 3D instead"),
    ("rnn_cell_hidden_3d", lambda m: m.nn.RNNCell(3, 4)(_x(m, 2, 3), _x(m, 1, 2, 4)), ValueError,
     r"RNNCell: Expected hidden to be 1D or 2D, got 3D instead"),
    ("lstm_cell_input_size", lambda m: m.nn.LSTMCell(3, 4)(_x(m, 2, 5)), RuntimeError,
     r"LSTMCell: input has inconsistent input_size: got 5 expected 3"),
    ("gru_cell_hidden_batch", lambda m: m.nn.GRUCell(3, 4)(_x(m, 2, 3), _x(m, 3, 4)), RuntimeError,
     r"GRUCell: Input batch size 2 doesn't match hidden0 batch size 3"),
    ("gru_cell_hidden_size", lambda m: m.nn.GRUCell(3, 4)(_x(m, 2, 3), _x(m, 2, 5)), RuntimeError,
     r"GRUCell: hidden0 has inconsistent hidden_size: got 5, expected 4"),
    ("lstm_cell_cx_batch", lambda m: m.nn.LSTMCell(3, 4)(_x(m, 2, 3), (_x(m, 2, 4), _x(m, 3, 4))), RuntimeError,
     r"LSTMCell: Input batch size 2 doesn't match hidden1 batch size 3"),
    ("pack_unsorted", lambda m: _pack(m, _x(m, 5, 3, 2), [2, 5, 3]), RuntimeError,
     r"`lengths` array must be sorted in decreasing order when `enforce_sorted` is True"),
    ("pack_zero_length", lambda m: _pack(m, _x(m, 5, 2, 2), [5, 0]), RuntimeError,
     r"Length of all samples has to be greater than 0"),
    ("pack_lengths_count", lambda m: _pack(m, _x(m, 5, 2, 2), [5, 3, 1]), RuntimeError,
     r"Expected `len\(lengths\)` to be equal to batch_size, but got 3 \(batch_size=2\)"),
    ("pad_packed_total_length", lambda m: m.nn.utils.rnn.pad_packed_sequence(_pack(m, _x(m, 5, 2, 2), [5, 3]),
                                                                             total_length=3), ValueError,
     r"Expected total_length to be at least the length of the longest sequence in input, but got total_length=3 "
     r"and max sequence length being 5"),
]


@pytest.mark.parametrize("name,call,exc,regex", RNN_CASES, ids=[c[0] for c in RNN_CASES])
def test_rnn_invalid_call_raises(name, call, exc, regex):
    with pytest.raises(exc) as info:
        call(lamina)
    assert type(info.value) is exc, f"{name}: raised {type(info.value).__name__}, expected {exc.__name__}"
    assert re.search(regex, str(info.value)), f"{name}: message {str(info.value)!r} does not match"


@pytest.mark.torch
def test_rnn_exception_types_match_torch():
    torch = pytest.importorskip("torch")
    mismatched = []
    for name, call, exc, _ in RNN_CASES:
        try:
            call(torch)
            outcome = "no error"
        except Exception as e:  # noqa: BLE001  (the exception type is what is compared)
            outcome = type(e).__name__
        if outcome != exc.__name__:
            mismatched.append(f"{name}: torch {outcome}, lamina {exc.__name__}")
    assert not mismatched, "\n".join(mismatched)


def _layer(mode="lstm", x=(6, 3), batch_sizes=(2, 2, 2), w_ih=(8, 3), w_hh=(8, 2), **kw):
    t = {k: (None if v is None else lamina.ones(*v)) for k, v in kw.items()}
    return lamina._C._rnn_layer(mode, lamina.ones(*x), list(batch_sizes), t.get("h0"), t.get("c0"),
                                lamina.ones(*w_ih), lamina.ones(*w_hh), t.get("b_ih"), t.get("b_hh"), t.get("w_hr"),
                                False)


@pytest.mark.parametrize("name,call,exc,regex", [
    ("mode", lambda: _layer(mode="lstmx"), ValueError, r"^rnn_layer: unknown mode 'lstmx'"),
    ("input_dims", lambda: _layer(x=(6,)), RuntimeError, r"^lstm: expected a 2-d \(rows, input_size\) input, got \(6,\)"),
    ("input_size", lambda: _layer(x=(6, 5)), RuntimeError,
     r"^lstm: input size 5 of input \(6, 5\) does not match weight_ih \(8, 3\)"),
    ("weight_ih_gates", lambda: _layer(w_ih=(7, 3)), RuntimeError,
     r"^lstm: expected weight_ih of shape \(4 \* hidden_size, input_size\), got \(7, 3\)"),
    ("weight_hh", lambda: _layer(w_hh=(8, 3)), RuntimeError, r"^lstm: expected weight_hh of shape \(8, 2\), got \(8, 3\)"),
    ("bias", lambda: _layer(b_ih=(6,)), RuntimeError, r"^lstm: expected bias_ih of shape \(8,\), got \(6,\)"),
    ("h0", lambda: _layer(h0=(3, 2)), RuntimeError, r"^lstm: expected h0 of shape \(2, 2\), got \(3, 2\)"),
    ("c0_gru", lambda: _layer(mode="gru", w_ih=(6, 3), w_hh=(6, 2), c0=(2, 2)), RuntimeError,
     r"^gru: only lstm takes an initial cell state"),
    ("w_hr_gru", lambda: _layer(mode="gru", w_ih=(6, 3), w_hh=(6, 2), w_hr=(1, 2)), RuntimeError,
     r"^gru: weight_hr \(projections\) is only supported by lstm"),
    ("batch_sizes_increasing", lambda: _layer(batch_sizes=(1, 2, 3)), RuntimeError,
     r"^lstm: batch_sizes must be non-negative and non-increasing, got \(1, 2, 3\)"),
    ("batch_sizes_sum", lambda: _layer(batch_sizes=(2, 2)), RuntimeError,
     r"^lstm: batch_sizes sum to 4 but the input \(6, 3\) has 6 rows"),
    ("no_steps", lambda: _layer(x=(0, 3), batch_sizes=()), RuntimeError, r"^lstm: expected at least one time step"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_rnn_layer_op_invalid_call_raises(name, call, exc, regex):
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc and re.search(regex, str(info.value)), str(info.value)
