"""L-BFGS for small full-batch problems: closure-based, on the flattened parameters, with an
optional strong-Wolfe line search (cubic interpolation, bracketing then zoom; Nocedal & Wright,
Algorithms 3.5 and 3.6). Same options, state and termination rules as torch.optim.LBFGS.

Vectors are 1-D lamina tensors in the parameters' dtype; scalars (losses, dot products, step
lengths) are Python floats.
"""

import math

from .. import _C
from ..autograd import enable_grad, no_grad
from .optimizer import Optimizer, _check_range, _number


def _dot(a, b):
    return (a * b).sum().item()


def _abs_max(v):
    return v.abs().max().item() if v.numel() else 0.0


def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2), clamped to bounds
    (default: the interval between the points); the bounds' midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


class _Point:
    """A trial step t along the direction: loss f, flat gradient g, directional derivative gtd."""

    __slots__ = ("t", "f", "g", "gtd")

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Finds t satisfying the strong Wolfe conditions along d from the point (f, g, gtd).

    evaluate(t) returns (loss, flat gradient) at x + t d. Returns (loss, gradient, t, evaluations).
    """
    d_norm = _abs_max(d)
    start = _Point(0.0, f, g, gtd)

    def probe(step):
        f_t, g_t = evaluate(step)
        return _Point(step, f_t, g_t, _dot(g_t, d))

    prev, cur = start, probe(t)
    evals, it = 1, 0
    bracket, done = None, False
    # Bracketing phase: grow the step until an interval containing a Wolfe point is found.
    while it < max_ls:
        if cur.f > f + c1 * cur.t * gtd or (it > 1 and cur.f >= prev.f):
            bracket = [prev, cur]
            break
        if abs(cur.gtd) <= -c2 * gtd:
            bracket, done = [cur], True
            break
        if cur.gtd >= 0:
            bracket = [prev, cur]
            break
        step = _cubic_min(prev.t, prev.f, prev.gtd, cur.t, cur.f, cur.gtd,
                          bounds=(cur.t + 0.01 * (cur.t - prev.t), cur.t * 10))
        prev, cur = cur, probe(step)
        evals += 1
        it += 1
    if it == max_ls:
        bracket = [start, cur]
    if done:
        return cur.f, cur.g, cur.t, evals

    # Zoom phase: shrink the bracket; low holds the lowest loss seen inside it.
    stalled = False
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    while not done and it < max_ls:
        a, b = bracket[0], bracket[1]
        if abs(b.t - a.t) * d_norm < tolerance_change:
            break
        step = _cubic_min(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        t_lo, t_hi = min(a.t, b.t), max(a.t, b.t)
        margin = 0.1 * (t_hi - t_lo)
        # Keep the trial away from the ends, unless the last one already was near one.
        if min(t_hi - step, step - t_lo) < margin:
            if stalled or step >= t_hi or step <= t_lo:
                step = t_hi - margin if abs(step - t_hi) < abs(step - t_lo) else t_lo + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        new = probe(step)
        evals += 1
        it += 1
        if new.f > f + c1 * new.t * gtd or new.f >= bracket[low].f:
            bracket[high] = new
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(new.gtd) <= -c2 * gtd:
                done = True
            elif new.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = new
    best = bracket[low]
    return best.f, best.g, best.t, evals


class LBFGS(Optimizer):
    """Limited-memory BFGS. ``step(closure)`` runs up to ``max_iter`` iterations (``max_eval``
    closure calls); the closure must zero the gradients, compute the loss, call backward and
    return the loss. Only one parameter group is supported.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        _check_range("learning rate", lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    @property
    def _params(self):
        # Derived, not stored: a whole-object load restores only defaults, state and param_groups
        # (__getstate__), and load_state_dict may replace the group's list.
        return self.param_groups[0]["params"]

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ---- flat views of the parameters -------------------------------------------------------
    def _flat_grad(self):
        parts = [_C.zeros(p.numel(), dtype=p.dtype) if p.grad is None else p.grad.reshape(-1) for p in self._params]
        return _C.cat(parts, 0) if len(parts) > 1 else parts[0].clone()

    def _add_step(self, t, d):
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(d[offset:offset + n].reshape(p.shape) * t)
            offset += n

    def _copy_params(self):
        return [p.clone() for p in self._params]

    def _restore_params(self, saved):
        for p, s in zip(self._params, saved):
            p.copy_(s)

    def _evaluate_along(self, closure, x0, d):
        def evaluate(t):
            self._add_step(t, d)
            with enable_grad():
                loss = float(closure())
            g = self._flat_grad()
            self._restore_params(x0)
            return loss, g
        return evaluate

    # ---- the iteration ----------------------------------------------------------------------
    def _direction(self, state, g):
        """-H g by the two-loop recursion over the stored (s, y) pairs, H0 = H_diag * I."""
        dirs, steps, ro = state["old_dirs"], state["old_stps"], state["ro"]
        q = -g
        alphas = [0.0] * len(dirs)
        for i in range(len(dirs) - 1, -1, -1):
            alphas[i] = _dot(steps[i], q) * ro[i]
            q = q - dirs[i] * alphas[i]
        r = q * state["H_diag"]
        for i in range(len(dirs)):
            beta = _dot(dirs[i], r) * ro[i]
            r = r + steps[i] * (alphas[i] - beta)
        return r

    def _remember(self, state, g, history_size):
        """Stores the curvature pair of the last step when it keeps H positive definite."""
        y = g - state["prev_flat_grad"]
        s = state["d"] * state["t"]
        ys = _dot(y, s)
        if ys > 1e-10:
            if len(state["old_dirs"]) == history_size:
                for key in ("old_dirs", "old_stps", "ro"):
                    state[key].pop(0)
            state["old_dirs"].append(y)
            state["old_stps"].append(s)
            state["ro"].append(1.0 / ys)
            state["H_diag"] = ys / _dot(y, y)

    def step(self, closure):
        """Runs one L-BFGS step (several iterations); returns the loss of the first evaluation."""
        if closure is None:
            raise RuntimeError("LBFGS requires a closure that re-evaluates the model and returns the loss")
        group = self.param_groups[0]
        lr = _number(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        line_search, history_size = group["line_search_fn"], group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        with no_grad():
            g = self._flat_grad()
            if _abs_max(g) <= tol_grad:
                return orig_loss
            n_iter = 0
            while n_iter < max_iter:
                n_iter += 1
                state["n_iter"] += 1
                if state["n_iter"] == 1:
                    state.update(old_dirs=[], old_stps=[], ro=[], H_diag=1.0)
                    d = -g
                else:
                    self._remember(state, g, history_size)
                    d = self._direction(state, g)
                state["prev_flat_grad"] = g.clone()
                prev_loss = state["prev_loss"] = loss
                t = min(1.0, 1.0 / g.abs().sum().item()) * lr if state["n_iter"] == 1 else lr
                gtd = _dot(g, d)
                if gtd > -tol_change:  # not a descent direction
                    state["d"], state["t"] = d, t
                    break
                ls_evals = 0
                if line_search == "strong_wolfe":
                    evaluate = self._evaluate_along(closure, self._copy_params(), d)
                    loss, g, t, ls_evals = _strong_wolfe(evaluate, t, d, loss, g, gtd, max_ls=max_eval - evals)
                    self._add_step(t, d)
                    optimal = _abs_max(g) <= tol_grad
                else:
                    self._add_step(t, d)
                    optimal = False
                    if n_iter != max_iter:
                        with enable_grad():
                            loss = float(closure())
                        g = self._flat_grad()
                        optimal = _abs_max(g) <= tol_grad
                        ls_evals = 1
                state["d"], state["t"] = d, t
                evals += ls_evals
                state["func_evals"] += ls_evals
                if n_iter == max_iter or evals >= max_eval or optimal:
                    break
                if _abs_max(d * t) <= tol_change or abs(loss - prev_loss) < tol_change:
                    break
        return orig_loss
