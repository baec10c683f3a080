"""The package's face: every public name has a docstring and a type stub; the stubs and py.typed sit next to
the package (they are installed with it)."""

import ast
import dataclasses
import enum
import inspect
import pathlib
import re

import strata

PACKAGE = pathlib.Path(strata.__file__).parent


def _public_names():
    """__all__, and every other name without a leading underscore that the package itself defines (not
    what it imports for its own use: typing's names, modules)."""
    defined = {n for n in dir(strata) if not n.startswith("_")
               and getattr(getattr(strata, n), "__module__", "").split(".")[0] == "strata"}
    return sorted(set(strata.__all__) | defined)


def _stub_names():
    tree = ast.parse((PACKAGE / "__init__.pyi").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_every_public_name_has_a_docstring():
    missing = []
    for name in _public_names():
        obj = getattr(strata, name)
        if isinstance(obj, (int, float, str)):  # a constant: documented in the stub and the docs
            continue
        if not (inspect.getdoc(obj) or "").strip():
            missing.append(name)
    assert missing == [], f"public names without a docstring: {missing}"
    assert (strata.__doc__ or "").strip()


def _human_lines(attr, doc):
    """The lines of a docstring a person wrote: not pybind11's generated signatures ("name(self: ...) -> T",
    "Overloaded function.", "1. name(...)") nor its bare "(self: ...) -> T" of a property getter."""
    generated = re.compile(r"^(\d+\.\s+)?" + re.escape(attr) + r"\(|^\(self\b|^Overloaded function\.?$")
    return [line for line in (doc or "").strip().splitlines() if line.strip() and not generated.match(line.strip())]


def _strata_classes(cls):
    """cls and its bases that the package defines (the extension's classes included), not object's or
    pybind11's."""
    return [c for c in cls.__mro__ if getattr(c, "__module__", "").split(".")[0] == "strata"]


def test_every_public_method_and_property_has_a_docstring():
    """Every public method and property of every public class, inherited ones from the package's own bases
    included, has a docstring a person wrote, not only pybind11's signature line. Enum members, constants
    and dataclass fields (documented by their class) are exempt."""
    missing = []
    checked = 0
    for name in strata.__all__:
        cls = getattr(strata, name)
        if not inspect.isclass(cls):
            continue
        fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        members = getattr(cls, "__members__", {})
        for owner in _strata_classes(cls):
            for attr, val in vars(owner).items():
                if attr.startswith("_") or attr in fields or attr in members:
                    continue
                if isinstance(val, (int, float, str, enum.Enum)):
                    continue
                checked += 1
                if not _human_lines(attr, getattr(val, "__doc__", None)):
                    missing.append(f"{name}.{attr}" if owner is cls else f"{name}.{attr} ({owner.__qualname__})")
    assert checked > 100, checked  # the walk found the classes' members
    assert missing == [], f"public methods/properties without a docstring: {missing}"


def test_the_docstring_check_sees_a_missing_docstring():
    """The rule above tells pybind11's generated lines from a person's."""
    assert _human_lines("numel", "numel(self: strata._strata.Tensor) -> int\n") == []
    assert _human_lines("submit", "submit(*args, **kwargs)\nOverloaded function.\n\n1. submit(self: X) -> dict\n"
                                  "\n2. submit(self: X, fn: Y) -> dict\n") == []
    assert _human_lines("numel", "numel(self: strata._strata.Tensor) -> int\n\nThe number of elements.\n") == [
        "The number of elements."]
    assert _human_lines("data", None) == []


def test_every_public_name_is_in_the_stub():
    stub = _stub_names()
    missing = [n for n in _public_names() + ["__version__"] if n not in stub]
    assert missing == [], f"public names missing from strata/__init__.pyi: {missing}"
    # and the stub names nothing the package lacks (typing helpers aside)
    extra = {n for n in stub if not n.startswith("_") and not hasattr(strata, n)}
    assert extra <= {"DTypeLike", "TensorLike", "TaskRef"}, extra


def test_stub_methods_exist():
    tree = ast.parse((PACKAGE / "__init__.pyi").read_text())
    missing = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for node in cls.body:
            if isinstance(node, ast.FunctionDef) and not hasattr(getattr(strata, cls.name), node.name):
                missing.append(f"{cls.name}.{node.name}")
    assert missing == [], f"the stub declares methods the package lacks: {missing}"


def test_typed_marker_is_there():
    assert (PACKAGE / "py.typed").is_file()
