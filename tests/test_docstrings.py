"""Every public module, function, class and method of rnn_research says what it does."""

import importlib
import inspect
import pkgutil

import rnn_research


def public_names():
    for info in pkgutil.iter_modules(rnn_research.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"rnn_research.{info.name}")
        yield module.__name__, module
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{module.__name__}.{name}", obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    defined_here = getattr(member, "__qualname__", "").startswith(f"{obj.__name__}.")
                    if not attr.startswith("_") and inspect.isfunction(member) and defined_here:
                        # An override without a docstring inherits its parent's (inspect.getdoc).
                        yield f"{module.__name__}.{name}.{attr}", getattr(obj, attr)


def test_every_public_name_has_a_docstring():
    names = dict(public_names())
    assert len(names) > 80  # the walk found the package, not an empty list
    missing = [name for name, obj in names.items() if not (inspect.getdoc(obj) or "").strip()]
    assert not missing, f"public names without a docstring: {missing}"


def test_array_functions_state_shapes():
    """A public function that takes arrays gives their shapes (``[B, T, D]`` and the like)."""
    lacking = []
    for name, obj in public_names():
        if not (inspect.isfunction(obj) or inspect.ismethod(obj)):
            continue
        annotations = " ".join(str(p.annotation) for p in inspect.signature(obj).parameters.values())
        if "Array" in annotations and "[" not in (inspect.getdoc(obj) or ""):
            lacking.append(name)
    assert not lacking, f"functions taking arrays whose docstring gives no shape: {lacking}"
