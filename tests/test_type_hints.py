"""The public API carries type hints (issue 7): every public function, and every public method
of every public class, annotates each parameter and its return value (``__init__`` needs no
return annotation).  The package ships ``py.typed``, so editors and type checkers read them."""

from __future__ import annotations

import inspect
from pathlib import Path

import chalknet

PUBLIC_MODULES = [
    chalknet, chalknet.ops, chalknet.layers, chalknet.models, chalknet.losses, chalknet.metrics,
    chalknet.activations, chalknet.optimizers, chalknet.optimizers.schedules, chalknet.callbacks,
    chalknet.initializers, chalknet.regularizers, chalknet.datasets, chalknet.utils,
    chalknet.vision, chalknet.gan, chalknet.rl, chalknet.classic,
]
ALWAYS_CHECKED = {"__init__", "__call__"}


def _ours(obj) -> bool:
    return getattr(obj, "__module__", "").startswith("chalknet")


def _public_callables():
    """(qualified name, function) for every public function and method, once each."""
    seen = set()
    for module in PUBLIC_MODULES:
        for name in getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")]):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and _ours(obj):
                candidates = [(f"{obj.__module__}.{obj.__qualname__}", obj)]
            elif inspect.isclass(obj) and _ours(obj):
                candidates = [(f"{obj.__module__}.{obj.__qualname__}.{attr}", member)
                              for attr, member in vars(obj).items()
                              if inspect.isfunction(member) and _ours(member)
                              and (not attr.startswith("_") or attr in ALWAYS_CHECKED)]
            else:
                continue
            for qualified, function in candidates:
                if qualified not in seen:
                    seen.add(qualified)
                    yield qualified, function


def _missing(function) -> list[str]:
    signature = inspect.signature(function)
    missing = [name for name, parameter in signature.parameters.items()
               if name not in ("self", "cls") and parameter.annotation is inspect.Parameter.empty]
    if function.__name__ != "__init__" and signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def test_the_package_is_marked_typed():
    assert (Path(chalknet.__file__).parent / "py.typed").exists()


def test_public_functions_and_methods_are_annotated():
    gaps = {name: missing for name, function in _public_callables()
            if (missing := _missing(function))}
    listing = "\n".join(f"{name}: {', '.join(missing)}" for name, missing in sorted(gaps.items()))
    assert not gaps, f"{len(gaps)} public callables lack annotations:\n{listing}"
