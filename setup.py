"""Build script: one optional Cython extension, ``libp2p._native``, built from ``_native/``.

Set ``LIBP2P_NO_EXTENSIONS=1`` (or have no C compiler) for a pure-Python install; the build
says which one it made. Metadata lives in pyproject.toml.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

NO_EXTENSIONS = os.environ.get("LIBP2P_NO_EXTENSIONS", "") not in ("", "0")


def _say(message: str) -> None:
    # stderr, so pip shows it with -v and it lands in build logs.
    print(f"aiolibp2p: {message}", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """Falls back to the pure-Python twins when the compiler is missing or fails."""

    failed = False

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure means "pure Python"
            _say(f"could not build the Cython extension ({exc!r}); installed as pure Python")
            return
        if self.extensions and not self.failed:
            _say("built the Cython extension libp2p._native")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self.failed = True
            _say(f"could not compile {ext.name} ({exc!r}); installed as pure Python")


class BuildPyWithoutStaleExtension(build_py):
    """Never ship an extension left in the source tree by an in-place build; build_ext adds the fresh one."""

    def run(self) -> None:
        super().run()
        package_dir = os.path.join(self.build_lib, "libp2p")
        if os.path.isdir(package_dir):
            for name in os.listdir(package_dir):
                if name.startswith("_native.") and name.endswith((".so", ".pyd")):
                    os.remove(os.path.join(package_dir, name))


def _extensions() -> list[Extension]:
    if NO_EXTENSIONS:
        _say("LIBP2P_NO_EXTENSIONS is set; installing as pure Python")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _say("Cython is not available; installing as pure Python")
        return []
    ext = Extension(
        "libp2p._native",
        ["_native/_native.pyx"],
        extra_compile_args=["-O3"] if sys.platform != "win32" else [],
    )
    return cythonize(
        [ext],
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
            # plain builtin functions (METH_FASTCALL) are cheaper to call than cyfunctions
            "binding": False,
        },
        annotate=os.environ.get("LIBP2P_CYTHON_ANNOTATE", "") not in ("", "0"),
        quiet=True,
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithoutStaleExtension})
