"""Python/YAML config files with mmseg semantics.

- ``_base_ = ['../_base_/models/segret.py', ...]`` (paths relative to the file) are loaded first and
  the file's own keys are merged on top, recursively for dicts.
- A dict holding ``_delete_=True`` replaces the inherited value instead of merging into it.
- ``--cfg-options model.decode_head.num_classes=19 optimizer.lr=1e-3`` overrides with typed values.
  A key must already exist (a typo is an error naming the close matches); ``+key=value`` adds a
  key the config does not have (``+data.train.on_bad_sample=skip``).
- ``Config.dump('x.yaml')`` writes YAML that ``Config.fromfile`` reads back equal: tuples are
  written with a ``!tuple`` tag (mmseg transforms tell ``(w, h)`` scales from lists of scales).
"""
from __future__ import annotations

import ast
import copy
import difflib
import importlib
import os
import re
import tempfile
import types
from typing import Any, ItemsView, Iterator, KeysView, Mapping, Sequence

import yaml

from ..utils.fileio import PathLike, write_text

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"
NEW_KEY_PREFIX = "+"
TUPLE_TAG = "!tuple"
# An override value that is not a python literal is kept as text only if it looks like a word,
# name or path; anything with brackets or quotes is a literal that failed to parse.
_PLAIN_TEXT = re.compile(r"[^()\[\]{}'\"]*")


class _ConfigDumper(yaml.SafeDumper):
    """SafeDumper that writes tuples as ``!tuple [a, b]``."""


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that reads ``!tuple [a, b]`` back as a tuple."""


_ConfigDumper.add_representer(
    tuple, lambda dumper, data: dumper.represent_sequence(TUPLE_TAG, data, flow_style=True))
_ConfigLoader.add_constructor(
    TUPLE_TAG, lambda loader, node: tuple(loader.construct_sequence(node, deep=True)))


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the file and key."""


class ConfigDict(dict):
    """A dict whose keys are also attributes (``cfg.model.backbone.type``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}; keys: {', '.join(map(str, self))}") \
                from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        del self[name]

    def __deepcopy__(self, memo):
        return ConfigDict({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and lists (tuples become lists)."""
        return _plain(self)


def _wrap(obj):
    if isinstance(obj, dict):
        return ConfigDict({k: _wrap(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return [_wrap(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_wrap(v) for v in obj)
    return obj


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _plain_keep_tuples(obj):
    """Plain dicts and lists, tuples kept (what ``dump`` writes)."""
    if isinstance(obj, dict):
        return {k: _plain_keep_tuples(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain_keep_tuples(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain_keep_tuples(v) for v in obj)
    return obj


def merge_dicts(base: Mapping[str, Any], child: Mapping[str, Any], where: str = ""
                ) -> dict[str, Any]:
    """Recursively merge ``child`` into a copy of ``base``.

    Args:
        base: The inherited config.
        child: The keys laid over it; a dict holding ``_delete_=True`` replaces instead of
            merging.
        where: The dotted prefix of ``base`` (for nested calls).

    Returns:
        The merged copy (``base`` and ``child`` are unchanged).
    """
    out = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and value.get(DELETE_KEY, False):
            out[key] = {k: v for k, v in value.items() if k != DELETE_KEY}
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_dicts(out[key], value, f"{where}{key}.")
        else:
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != DELETE_KEY}
            out[key] = value
    return out


def _read_python(path):
    with open(path, "r", encoding="utf-8") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec")
    except SyntaxError as e:
        raise ConfigError(f"{path}, line {e.lineno}: invalid python in config: {e.msg}") from e
    scope = {"__file__": path, "__name__": "__jseg_ret_config__"}
    try:
        exec(code, scope)
    except Exception as e:  # the config file's own error, re-raised with its name
        raise ConfigError(f"{path}: error while executing config: {type(e).__name__}: {e}") from e
    return {k: v for k, v in scope.items()
            if not k.startswith("__") and not isinstance(
                v, (types.ModuleType, types.FunctionType, type))}


def _read_yaml(path):
    with open(path, "r", encoding="utf-8") as f:
        try:
            data = yaml.load(f, Loader=_ConfigLoader)  # safe_load plus !tuple
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a YAML config must be a mapping at top level, "
                          f"got {type(data).__name__}")
    return data


def _load_file(path, chain=()):
    path = os.path.abspath(path)
    if path in chain:
        raise ConfigError("circular _base_ inheritance: " + " -> ".join(chain + (path,)))
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".py":
        data = _read_python(path)
    elif ext in (".yaml", ".yml"):
        data = _read_yaml(path)
    else:
        raise ConfigError(f"{path}: unsupported config type {ext!r} (expected .py, .yaml or .yml)")
    bases = data.pop(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, (list, tuple)):
        raise ConfigError(f"{path}: _base_ must be a path or a list of paths, got {bases!r}")
    merged = {}
    for base in bases:
        base_path = os.path.join(os.path.dirname(path), base)
        if not os.path.isfile(base_path):
            raise ConfigError(f"{path}: _base_ file {base!r} not found (looked for {base_path})")
        base_data = _load_file(base_path, chain + (path,))
        clash = set(merged) & set(base_data)
        if clash:
            raise ConfigError(f"{path}: _base_ files define the same top-level keys twice: "
                              f"{sorted(clash)}")
        merged.update(base_data)
    return merge_dicts(merged, data)


def _parse_value(text, item):
    """Type an override value: python literals, true/false/none, 'a,b' lists, else a string.

    Text with brackets or quotes that is not a valid literal (``1e-3)``) is a ConfigError naming
    the option ``item``, not a string that fails later."""
    s = text.strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if "," in s and not s.startswith(("[", "(", "{", "'", '"')):
        return [_parse_value(p, item) for p in s.split(",")]  # a=1,2 -> [1, 2], as mmcv
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError) as e:
        if _PLAIN_TEXT.fullmatch(s):
            return s
        raise ConfigError(f"--cfg-options item {item!r}: value {s!r} is not a valid python "
                          f"literal ({type(e).__name__}: {e}); quote text, balance brackets") from e


def parse_cfg_options(options: Sequence[str] | None) -> dict[str, Any]:
    """Parse ``--cfg-options`` items: ``['a.b=1', 'c=x']`` -> ``{'a.b': 1, 'c': 'x'}``.

    Args:
        options: ``key=value`` strings; values are read as Python/YAML literals. A ``+`` before
            the key (``+a.b=1``) is kept: it lets ``merge_from_dict`` add a new key.

    Returns:
        ``{dotted key: typed value}`` for ``Config.merge_from_dict``.

    Raises:
        ConfigError: An item that is not ``key=value`` or has an empty key part.
    """
    out = {}
    for item in options or []:
        if "=" not in item:
            raise ConfigError(f"--cfg-options item {item!r} is not of the form key=value "
                              "(e.g. model.decode_head.num_classes=19)")
        key, value = item.split("=", 1)
        key = key.strip()
        bare = key[len(NEW_KEY_PREFIX):] if key.startswith(NEW_KEY_PREFIX) else key
        if not bare or any(not part for part in bare.split(".")):
            raise ConfigError(f"--cfg-options item {item!r}: empty key or key part in {key!r}")
        out[key] = _parse_value(value, item)
    return out


class Config:
    """A loaded config: attribute access to its keys, plus where it came from.

    Args:
        cfg_dict: The keys (nested dicts become ``ConfigDict``).
        filename: The file it was read from, if any.
    """

    def __init__(self, cfg_dict: Mapping[str, Any] | None = None,
                 filename: str | None = None) -> None:
        object.__setattr__(self, "_cfg", _wrap(dict(cfg_dict or {})))
        object.__setattr__(self, "filename", filename)

    @classmethod
    def fromfile(cls, path: PathLike) -> Config:
        """Read a ``.py`` or ``.yaml`` config, its ``_base_`` files merged first.

        Args:
            path: The config file.

        Returns:
            The config, ``filename`` set to the absolute path.

        Raises:
            ConfigError: A missing, unreadable or malformed file (or base file); the message
                names it.
        """
        cfg = cls(_load_file(path), filename=os.path.abspath(path))
        import_custom_modules(cfg.get("custom_imports"), cfg.filename)
        return cfg

    @classmethod
    def fromstring(cls, text: str, suffix: str = ".py") -> Config:
        """A config from source text, read as a file ending in ``suffix`` (".py" or ".yaml").

        Raises:
            ConfigError: Malformed text.
        """
        with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as f:
            f.write(text)
        try:
            return cls(_load_file(f.name))
        finally:
            os.unlink(f.name)

    # --- dict-like access ---
    def __getattr__(self, name):
        return getattr(self._cfg, name)

    def __setattr__(self, name, value):
        self._cfg[name] = _wrap(value)

    def __getitem__(self, key):
        return self._cfg[key]

    def __setitem__(self, key, value):
        self._cfg[key] = _wrap(value)

    def __contains__(self, key):
        return key in self._cfg

    def __iter__(self) -> Iterator[str]:
        return iter(self._cfg)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of a top-level key, else ``default``."""
        return self._cfg.get(key, default)

    def keys(self) -> KeysView[str]:
        return self._cfg.keys()

    def items(self) -> ItemsView[str, Any]:
        return self._cfg.items()

    def to_dict(self) -> dict[str, Any]:
        """The config as plain dicts and lists (tuples become lists)."""
        return _plain(self._cfg)

    def copy(self) -> Config:
        """A deep copy (same ``filename``)."""
        return Config(copy.deepcopy(self.to_dict()), self.filename)

    def __repr__(self):
        return f"Config(filename={self.filename!r}):\n{self.pretty_text}"

    @property
    def pretty_text(self) -> str:
        """The config as YAML (tuples tagged ``!tuple``), as ``dump`` writes it."""
        return yaml.dump(_plain_keep_tuples(self._cfg), Dumper=_ConfigDumper, sort_keys=False,
                         default_flow_style=None)

    def merge_from_dict(self, options: Mapping[str, Any]) -> None:
        """Apply ``{'a.b.c': value}`` overrides; integer parts index into lists.

        All overrides are checked before any is applied.

        Args:
            options: ``{dotted key: value}`` (as ``parse_cfg_options`` gives). Every key must
                exist unless written ``'+a.b.c'``.

        Raises:
            ConfigError: A missing key (naming the closest existing keys), a bad list index, or
                a value whose type does not fit the key's.
        """
        staged = copy.deepcopy(self._cfg)
        for dotted, value in options.items():
            create = dotted.startswith(NEW_KEY_PREFIX)
            if create:
                dotted = dotted[len(NEW_KEY_PREFIX):]
            parts = dotted.split(".")
            node = staged
            for depth, part in enumerate(parts[:-1]):
                node = self._step(node, part, parts[:depth + 1], dotted, create)
            last = parts[-1]
            if isinstance(node, list):
                idx = self._index(node, last, dotted)
                node[idx] = _check_type(node[idx], value, dotted)
            else:
                if last not in node and not create:
                    raise _unknown_key(node, last, parts, dotted)
                node[last] = _check_type(node.get(last), value, dotted)
        object.__setattr__(self, "_cfg", staged)

    def _step(self, node, part, path, dotted, create):
        if isinstance(node, list):
            return node[self._index(node, part, dotted)]
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {'.'.join(path[:-1])} is a "
                              f"{type(node).__name__}, not a dict")
        if part not in node:
            if not create:
                raise _unknown_key(node, part, path, dotted)
            node[part] = ConfigDict()
        child = node[part]
        if not isinstance(child, (dict, list)):
            raise ConfigError(f"override {dotted!r}: {'.'.join(path)} is {child!r}, "
                              "which has no sub-keys")
        return child

    @staticmethod
    def _index(node, part, dotted):
        try:
            idx = int(part)
        except ValueError:
            raise ConfigError(f"override {dotted!r}: {part!r} indexes a list and must be an "
                              "integer") from None
        if not -len(node) <= idx < len(node):
            raise ConfigError(f"override {dotted!r}: index {idx} out of range for a list of "
                              f"{len(node)}")
        return idx

    def dump(self, path: PathLike) -> None:
        """Write the merged config atomically, making its folder.

        Args:
            path: A ``.py`` file gets Python assignments, any other name YAML; either loads back
                with ``fromfile`` to an equal config, tuples included.

        Raises:
            OutputWriteError: The file could not be written; an existing one is unchanged.
        """
        path = os.fspath(path)
        if path.endswith(".py"):
            text = "".join(f"{k} = {v!r}\n" for k, v in _plain_keep_tuples(self._cfg).items())
        else:
            text = self.pretty_text
        write_text(path, text, "the config", makedirs=True)


def import_custom_modules(spec: Mapping[str, Any] | None, where: str = "config") -> None:
    """Import the modules a config names in mmcv's ``custom_imports`` key, so that user classes
    (hooks, datasets, models) register themselves before anything is built.

    Args:
        spec: ``dict(imports=[module names], allow_failed_imports=False)`` or None.
        where: The config file, for error messages.

    Raises:
        ConfigError: A malformed ``custom_imports``, or a module that cannot be imported
            (unless ``allow_failed_imports``); the message names the module.
    """
    if spec is None:
        return
    imports = spec.get("imports") if isinstance(spec, Mapping) else None
    if isinstance(imports, str):
        imports = [imports]
    if not isinstance(imports, (list, tuple)) or not all(isinstance(m, str) for m in imports):
        raise ConfigError(f"{where}: custom_imports={spec!r}: expected "
                          f"dict(imports=['module', ...], allow_failed_imports=False)")
    for name in imports:
        try:
            importlib.import_module(name)
        except ImportError as e:
            if not spec.get("allow_failed_imports", False):
                raise ConfigError(f"{where}: custom_imports: cannot import {name!r}: {e}") from e


def _unknown_key(node, key, path, dotted):
    """The ConfigError for an override of a key ``node`` does not have."""
    where = ".".join(path[:-1]) if len(path) > 1 else "the config"
    close = difflib.get_close_matches(key, [str(k) for k in node], n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return ConfigError(f"override {dotted!r}: {where} has no key {key!r}; {hint}"
                       f"write '+{dotted}=...' to add a new key")


def _check_type(old, new, dotted):
    """``new`` wrapped; text where the config holds a number is a ConfigError naming the key."""
    if (isinstance(old, (int, float)) and not isinstance(old, bool) and isinstance(new, str)):
        raise ConfigError(f"override {dotted!r}: {new!r} is text, but the config holds the "
                          f"number {old!r} there; expected a number")
    return _wrap(new)
