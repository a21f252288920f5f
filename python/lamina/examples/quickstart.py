"""The 30-second tour: tensors, broadcasting, autograd and numpy interop.

    python -m lamina.examples.quickstart
"""

import lamina


def main():
    lamina.manual_seed(0)
    x = lamina.randn(3, 4, requires_grad=True)
    y = (x.tanh() * 2 + 1).sum(dim=1).mean()
    y.backward()
    print("x:", x, sep="\n")
    print("y = (tanh(x) * 2 + 1).sum(dim=1).mean() =", y.item())
    print("dy/dx:", x.grad, sep="\n")
    # Gradients agree with the closed form 2 * (1 - tanh(x)^2) / 3.
    expected = (1 - x.detach().tanh() ** 2) * 2 / 3
    print("max error vs closed form:", (x.grad - expected).abs().max().item())
    # .numpy() and lamina.from_numpy share memory.
    print("shape and dtype after a numpy round trip:", x.grad.shape, lamina.from_numpy(x.grad.numpy()).dtype)
    print("kernels:", lamina._C._get_cpu_isa(), "| threads:", lamina.get_num_threads())


if __name__ == "__main__":
    main()
