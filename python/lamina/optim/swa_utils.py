"""Weight averaging (PyTorch's torch.optim.swa_utils): AveragedModel keeps a running average of a
model's parameters, an exponential moving average (EMA, as diffusion models and GANs sample with) or
the equal-weight average of stochastic weight averaging (SWA); update_bn recomputes BatchNorm
statistics for averaged weights."""

import copy
import itertools

from .. import _C
from ..autograd.grad_mode import no_grad
from ..nn.modules.module import Module

__all__ = ["AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn", "get_swa_multi_avg_fn",
           "update_bn"]


def get_ema_multi_avg_fn(decay=0.999):
    """avg <- decay * avg + (1 - decay) * current, in place over lists of tensors."""
    def ema_update(averaged, current, num_averaged):
        for a, c in zip(averaged, current):
            a.lerp_(c, 1 - decay)
    return ema_update


def get_swa_multi_avg_fn():
    """avg <- avg + (current - avg) / (n + 1): the equal-weight mean of every update so far."""
    def swa_update(averaged, current, num_averaged):
        for a, c in zip(averaged, current):
            a.add_((c - a) / (num_averaged.item() + 1))
    return swa_update


def get_ema_avg_fn(decay=0.999):
    """The EMA as a function of one tensor pair, returning the new average."""
    return lambda averaged, current, num_averaged: decay * averaged + (1 - decay) * current


def get_swa_avg_fn():
    return lambda averaged, current, num_averaged: averaged + (current - averaged) / (num_averaged.item() + 1)


class AveragedModel(Module):
    """A copy of `model` whose parameters (and with use_buffers=True its buffers too) follow an average
    of the model's, updated by update_parameters(model). The first update copies the model; later
    ones apply multi_avg_fn (lists of tensors, in place), else avg_fn (per tensor), else the SWA mean.
    Without use_buffers the buffers (BatchNorm statistics) are copied from the model each update."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", _C.tensor(0, dtype=_C.dtype.int64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _tensors(self, model):
        if self.use_buffers:
            return list(itertools.chain(model.parameters(), model.buffers()))
        return list(model.parameters())

    def update_parameters(self, model):
        averaged = [t.detach() for t in self._tensors(self.module)]
        current = [t.detach() for t in self._tensors(model)]
        if len(averaged) != len(current):
            raise RuntimeError(f"AveragedModel.update_parameters: the model has {len(current)} tensors to "
                               f"average, the averaged copy {len(averaged)}")
        with no_grad():
            if self.n_averaged.item() == 0:
                for a, c in zip(averaged, current):
                    a.copy_(c)
            elif self.multi_avg_fn is not None:
                # Integer buffers (BatchNorm's num_batches_tracked) are counts, not averaged.
                pairs = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
                self.multi_avg_fn([a for a, _ in pairs], [c for _, c in pairs], self.n_averaged)
                for a, c in zip(averaged, current):
                    if not a.is_floating_point():
                        a.copy_(c)
            else:
                fn = self.avg_fn or get_swa_avg_fn()
                for a, c in zip(averaged, current):
                    a.copy_(fn(a, c, self.n_averaged) if a.is_floating_point() else c)
            if not self.use_buffers:
                for a, c in zip(self.module.buffers(), model.buffers()):
                    a.copy_(c.detach())
            self.n_averaged.add_(1)


def update_bn(loader, model, device=None):
    """Recomputes the BatchNorm running statistics of `model` with one pass over loader (their
    cumulative average: momentum None), as averaged weights need; other layers are untouched."""
    momenta = {}
    for m in model.modules():
        if isinstance(m, _batchnorm_types()):
            m.reset_running_stats()
            momenta[m] = m.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for m in momenta:
        m.momentum = None
    with no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            model(batch)
    for m, momentum in momenta.items():
        m.momentum = momentum
    model.train(was_training)


def _batchnorm_types():
    from ..nn.modules.normalization import _BatchNorm
    return (_BatchNorm,)
