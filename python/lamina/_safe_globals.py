"""The allowlist of classes and functions that `lamina.load(weights_only=True)` may touch.

A checkpoint names classes and functions as "module.qualname" strings; with weights_only=True the
loader resolves a name only through this table (never by importing). It holds the user's entries
(`add_safe_globals`, PyTorch's API) and a fixed default set, and refuses modules that run commands
or code even when the user lists them. lamina's own Module and Optimizer classes form a narrower
tier: they may be rebuilt from saved state, never called (see `lamina_class`).
"""

import collections
import sys

__all__ = ["add_safe_globals", "clear_safe_globals", "get_safe_globals", "safe_globals"]

# Entries as the user gave them (objects or (object, "module.qualname") pairs), in order.
_user_entries = []

# Never resolved with weights_only=True, allowlisted or not: these run commands, open files or
# execute code. PyTorch blocks sys/os/posix/nt the same way; the allowlist itself is the boundary.
_BLOCKED_MODULES = frozenset({
    "os", "posix", "nt", "sys", "subprocess", "shutil", "importlib", "runpy", "pickle", "_pickle",
    "marshal", "shelve", "ctypes", "socket", "pty", "code", "codeop", "webbrowser", "multiprocessing",
})
_BLOCKED_BUILTINS = frozenset({  # run code, reach any attribute or global, do I/O, exit, make classes
    "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals",
    "locals", "vars", "breakpoint", "input", "exit", "quit", "help", "type",
})


def _defaults():
    """Default globals: plain containers and numbers (calling them with decoded arguments only
    builds values), PyTorch's OrderedDict/Counter, defaultdict (lamina optimizers keep their state
    in one) and lamina.Size. Left out because a small call makes a huge object: bytes(n) and
    bytearray(n) (they travel as their own node kinds), range (list(range(10**12))) and
    lamina.Tensor(n) (an n-element tensor). Tensors, Parameters, numpy arrays, scalars and dtypes,
    lamina dtypes and devices have node kinds of their own and need no global at all."""
    from ._tensor import Size
    table = {f"builtins.{t.__name__}": t for t in (dict, list, tuple, set, frozenset, int, float, complex,
                                                   bool, str, slice)}
    for cls in (collections.OrderedDict, collections.Counter, collections.defaultdict, Size):
        table[_name_of(cls)] = cls
    return table


_default_table = None
_lamina_table = None


def _name_of(obj):
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"lamina.serialization.add_safe_globals: {obj!r} has no __module__/__qualname__; "
                        "pass (obj, 'module.qualname') to name it")
    return f"{module}.{qualname}"


def _entry_name(entry):
    if isinstance(entry, tuple):
        if len(entry) != 2 or not isinstance(entry[1], str):
            raise TypeError("lamina.serialization.add_safe_globals: a tuple entry must be "
                            f"(obj, 'module.qualname'), got {entry!r}")
        return entry[1]
    return _name_of(entry)


def is_blocked(name):
    """True for names in modules that run commands or code (checked on the name in the file and on
    the name of the object it resolves to)."""
    module = name.rsplit(".", 1)[0] if "." in name else name
    top = module.split(".", 1)[0]
    if top in _BLOCKED_MODULES:
        return True
    return module == "builtins" and name[len("builtins."):] in _BLOCKED_BUILTINS


def add_safe_globals(safe_globals):
    """Marks classes and functions as safe for `lamina.load(weights_only=True)` (PyTorch's API).

    Args:
        safe_globals: a list of classes/functions, or of (obj, "module.qualname") pairs to accept
            `obj` under another name (a class that moved). The checkpoint names each global as
            "module.qualname"; the loader rebuilds only those listed here or allowed by default.

    Listing a class lets a checkpoint create it (`cls.__new__` plus its `__setstate__` or a
    `__dict__` update) and call it with arguments from the file: list only code you trust with
    such input. Modules that run commands or code (os, sys, subprocess, builtins.eval, ...) are
    refused here and at load time.
    """
    if not isinstance(safe_globals, (list, tuple, set, frozenset)):
        raise TypeError("lamina.serialization.add_safe_globals: expected a list of classes/functions, got "
                        f"{type(safe_globals).__name__}")
    for entry in safe_globals:
        name = _entry_name(entry)
        target_name = _safe_name(entry[0] if isinstance(entry, tuple) else entry)
        if is_blocked(name) or (target_name is not None and is_blocked(target_name)):
            raise ValueError(f"lamina.serialization.add_safe_globals: refusing {name}: it can run commands "
                             "or code, so lamina.load never rebuilds it with weights_only=True; use "
                             "weights_only=False for a file you trust completely")
    for entry in safe_globals:
        if entry not in _user_entries:
            _user_entries.append(entry)


def _safe_name(obj):
    try:
        return _name_of(obj)
    except TypeError:
        return None


def get_safe_globals():
    """The user's allowlist entries (what `add_safe_globals` was given), as a list."""
    return list(_user_entries)


def clear_safe_globals():
    """Empties the user's allowlist (the defaults stay)."""
    _user_entries.clear()


class safe_globals:
    """Context manager that allowlists `safe_globals` inside a `with` block (PyTorch's API).

    Entries that were already allowlisted before the block stay allowlisted after it.
    """

    def __init__(self, safe_globals):
        self.safe_globals = list(safe_globals)
        self._added = []

    def __enter__(self):
        before = list(_user_entries)
        add_safe_globals(self.safe_globals)
        self._added = [e for e in _user_entries if e not in before]
        return self

    def __exit__(self, *exc):
        for entry in self._added:
            if entry in _user_entries:
                _user_entries.remove(entry)
        self._added = []


def lookup(name):
    """The object allowlisted under `name` (user entries first), or None. Never imports."""
    global _default_table
    if is_blocked(name):
        return None
    for entry in reversed(_user_entries):
        if _entry_name(entry) == name:
            target = entry[0] if isinstance(entry, tuple) else entry
            # A blocked object listed under an innocent alias is still refused.
            return None if is_blocked(_safe_name(target) or name) else target
    if _default_table is None:
        _default_table = _defaults()
    return _default_table.get(name)


def is_allowed_type(cls):
    """Whether objects of type `cls` may have state and items applied (their class is allowlisted
    under any name)."""
    global _default_table
    if _default_table is None:
        _default_table = _defaults()
    targets = [e[0] if isinstance(e, tuple) else e for e in _user_entries] + list(_default_table.values())
    name = _safe_name(cls)
    return any(t is cls for t in targets) and not (name is not None and is_blocked(name))


def lamina_class(name):
    """lamina's own nn.Module and optim.Optimizer subclasses, by "module.qualname", or None.

    Not allowlisted by PyTorch's rules, yet safe to *rebuild*: the loader creates them with
    `object.__new__(cls)` and hands the saved state to `Module.__setstate__` /
    `Optimizer.__setstate__`, which only update `__dict__`, so no code from the file runs and
    no constructor sees file data. The loader never calls them (a call like Linear(10**6, 10**6)
    would allocate terabytes) and refuses constructor arguments, list/dict items and state setters
    for them. Their attributes can only hold what the allowlist already admits.
    """
    global _lamina_table
    if _lamina_table is None:
        _lamina_table = _lamina_classes()
    return _lamina_table.get(name)


def _lamina_classes():
    from . import nn, optim
    table = {}
    for package, base in ((nn, nn.Module), (optim, optim.Optimizer)):
        prefix = package.__name__ + "."
        for module_name, module in list(sys.modules.items()):
            if module is None or not (module_name == package.__name__ or module_name.startswith(prefix)):
                continue
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, base) and value.__module__.startswith("lamina."):
                    table[_name_of(value)] = value
    return table


def resolve_trusted(module, qualname):
    """weights_only=False: imports `module` and follows `qualname` (the file is trusted)."""
    import importlib
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        if part.startswith("<"):
            raise AttributeError(f"{module}.{qualname} is not a module-level name")
        obj = getattr(obj, part)
    return obj

