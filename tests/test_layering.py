"""Architecture rules that code review alone would miss."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import libp2p

PACKAGE = Path(libp2p.__file__).resolve().parent
_FORBIDDEN_IN_CORES = {"asyncio", "socket", "time", "trio", "selectors"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


CORES = sorted(PACKAGE.rglob("core.py"))


def test_there_are_cores() -> None:
    assert len(CORES) >= 6, CORES


@pytest.mark.parametrize("path", CORES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_sans_io_cores_import_no_io(path: Path) -> None:
    """A core.py takes bytes and time in: no asyncio, socket or time."""
    bad = _imported_modules(path) & _FORBIDDEN_IN_CORES
    assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_only_accel_reads_the_switch_or_imports_native() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if str(rel) == "_accel.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "LIBP2P_NO_EXTENSIONS" in text.replace("``LIBP2P_NO_EXTENSIONS", ""):
            # mentions in docs are fine; reads are not
            if "environ" in text and "LIBP2P_NO_EXTENSIONS" in text:
                offenders.append(f"{rel} reads LIBP2P_NO_EXTENSIONS")
        if "_native" in _imported_modules(path) or "libp2p._native" in text and "import" in text and "import_module" not in text:
            for line in text.splitlines():
                if ("import" in line) and ("libp2p._native" in line or "from libp2p import _native" in line):
                    offenders.append(f"{rel}: {line.strip()}")
    assert not offenders, offenders


# Every module, imported first in a fresh interpreter, must leave the compiled twin selected:
# an import cycle through libp2p._accel would make it fall back to pure Python silently.
_MODULES = sorted(
    ".".join(("libp2p", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py")
    if "pb" not in p.relative_to(PACKAGE).parts and p.name != "__main__.py"
)


def test_any_import_order_selects_the_same_twin() -> None:
    code = (
        "import importlib, sys\n"
        "bad = []\n"
        "for name in sys.argv[1:]:\n"
        "    for key in [k for k in sys.modules if k == 'libp2p' or k.startswith('libp2p.')]:\n"
        "        del sys.modules[key]\n"
        "    importlib.import_module(name)\n"
        "    import libp2p._accel as a\n"
        "    if a.NATIVE_BUILT and not a.NO_EXTENSIONS and a.IMPLEMENTATION != 'cython':\n"
        "        bad.append((name, repr(a.NATIVE_IMPORT_ERROR)))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *_MODULES], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _all_imports(path: Path) -> set[str]:
    """Every ``libp2p.*`` module a file imports, at any level (TYPE_CHECKING blocks and
    function bodies included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n == "libp2p" or n.startswith("libp2p.")}


def test_host_imports_no_protocol() -> None:
    """Protocols plug into the host as services; the host never imports one (no import circle
    between host/ and protocols/). The defaults are put together above both, in libp2p/node.py."""
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sorted((PACKAGE / "host").rglob("*.py"))
        for name in _all_imports(path)
        if name.startswith("libp2p.protocols") or name == "libp2p.node"
    ]
    assert not offenders, offenders


def test_lower_layers_import_neither_host_nor_protocols() -> None:
    """Transports, security, muxers and negotiation sit below the host and the protocols."""
    lower = ["transport", "security", "muxer", "negotiate", "identity", "_pure", "peerstore"]
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for package in lower
        for path in sorted((PACKAGE / package).rglob("*.py"))
        for name in _all_imports(path)
        if name.startswith(("libp2p.host", "libp2p.protocols", "libp2p.node", "libp2p.cli"))
    ]
    assert not offenders, offenders


def test_services_use_only_the_hosts_public_api() -> None:
    """A service never reaches into the host's private state (``host._anything``)."""
    offenders = []
    for path in sorted((PACKAGE / "protocols").rglob("*.py")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "host._" in line:
                offenders.append(f"{path.relative_to(PACKAGE)}:{lineno}: {line.strip()}")
    assert not offenders, offenders
