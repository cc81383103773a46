"""The package version: one place, read by ``pyproject.toml``, ``libp2p.__version__`` and identify."""

__version__ = "0.1.0.dev0"
