"""Every error the library raises on purpose derives from ``Libp2pError`` (issue 17), so an
application can catch the library's failures with one ``except``."""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import libp2p
import libp2p.errors

ROOT = Path(libp2p.__file__).parent
# Builtin exceptions that are fine to raise: control flow and "cannot happen" assertions.
# AttributeError and ImportError are what Python itself expects from __getattr__, immutable
# objects and a module that did not load.
_ALLOWED_BUILTINS = {"NotImplementedError", "AssertionError", "StopAsyncIteration", "StopIteration",
                     "AttributeError", "ImportError", "MemoryError",
                     "KeyboardInterrupt", "SystemExit"}
# The CLI turns errors into messages and exit codes; it never reaches an application.
_SKIP = {"cli"}
_BUILTIN_EXCEPTIONS = {name for name, obj in vars(builtins).items()
                       if inspect.isclass(obj) and issubclass(obj, BaseException)}


def _library_files() -> list[Path]:
    return [p for p in ROOT.rglob("*.py")
            if p.relative_to(ROOT).parts[0] not in _SKIP and not p.name.endswith("_pb2.py")]


def test_no_builtin_exception_raised_on_purpose() -> None:
    offenders = []
    for path in _library_files() + sorted((ROOT.parent / "_native").glob("*.pxi")):
        text = path.read_text()
        if path.suffix == ".pxi":  # Cython: look at the raise lines only
            lines = [(i + 1, line.strip()) for i, line in enumerate(text.splitlines())]
            for lineno, line in lines:
                if line.startswith("raise "):
                    name = line[6:].split("(")[0].strip()
                    if name in _BUILTIN_EXCEPTIONS and name not in _ALLOWED_BUILTINS:
                        offenders.append(f"{path.name}:{lineno}: {line}")
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id in _BUILTIN_EXCEPTIONS and exc.id not in _ALLOWED_BUILTINS:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: raise {exc.id}")
    assert offenders == []


def test_every_exception_class_of_the_library_is_a_libp2p_error() -> None:
    import importlib
    import pkgutil

    strays = []
    for info in pkgutil.walk_packages([str(ROOT)], "libp2p."):
        if info.name.split(".")[1] in _SKIP or info.name.endswith("_pb2") or info.name in ("libp2p._native", "libp2p.__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__
                    and not issubclass(obj, libp2p.errors.Libp2pError)):
                strays.append(f"{info.name}.{name}")
    assert strays == []
