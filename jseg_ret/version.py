"""The version of jseg_ret, written only here (pyproject.toml reads it statically)."""
__version__ = "0.1.0"
