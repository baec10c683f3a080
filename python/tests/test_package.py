"""The package's face: every public name has a docstring and a type stub; the stubs and py.typed sit next to
the package (they are installed with it)."""

import ast
import inspect
import pathlib

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
