"""Python/YAML config files with mmseg semantics.

- ``_base_ = ['../_base_/models/segret.py', ...]`` (paths relative to the file) are loaded first and
  the file's own keys are merged on top, recursively for dicts.
- A dict holding ``_delete_=True`` replaces the inherited value instead of merging into it.
- ``--cfg-options model.decode_head.num_classes=19 optimizer.lr=1e-3`` overrides with typed values.
- ``Config.dump('x.yaml')`` writes YAML that ``Config.fromfile`` reads back.
"""
import ast
import copy
import os
import types

import yaml

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"


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

    def to_dict(self):
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


def merge_dicts(base, child, where=""):
    """Recursively merge ``child`` into a copy of ``base``; ``_delete_=True`` replaces."""
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
            data = yaml.safe_load(f)
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


def _parse_value(text):
    """Type an override value: python literals, true/false/none, 'a,b' lists, else a string."""
    s = text.strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if "," in s and not s.startswith(("[", "(", "{", "'", '"')):
        return [_parse_value(p) for p in s.split(",")]  # a=1,2 -> [1, 2], as mmcv
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return s


def parse_cfg_options(options):
    """['a.b=1', 'c=x'] -> {'a.b': 1, 'c': 'x'}; a malformed item raises ConfigError."""
    out = {}
    for item in options or []:
        if "=" not in item:
            raise ConfigError(f"--cfg-options item {item!r} is not of the form key=value "
                              "(e.g. model.decode_head.num_classes=19)")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--cfg-options item {item!r}: empty key or key part in {key!r}")
        out[key] = _parse_value(value)
    return out


class Config:
    """A loaded config: attribute access to its keys, plus where it came from."""

    def __init__(self, cfg_dict=None, filename=None):
        object.__setattr__(self, "_cfg", _wrap(dict(cfg_dict or {})))
        object.__setattr__(self, "filename", filename)

    @classmethod
    def fromfile(cls, path):
        return cls(_load_file(path), filename=os.path.abspath(path))

    @classmethod
    def fromstring(cls, text, suffix=".py"):
        import tempfile
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

    def __iter__(self):
        return iter(self._cfg)

    def get(self, key, default=None):
        return self._cfg.get(key, default)

    def keys(self):
        return self._cfg.keys()

    def items(self):
        return self._cfg.items()

    def to_dict(self):
        return _plain(self._cfg)

    def copy(self):
        return Config(copy.deepcopy(self.to_dict()), self.filename)

    def __repr__(self):
        return f"Config(filename={self.filename!r}):\n{self.pretty_text}"

    @property
    def pretty_text(self):
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def merge_from_dict(self, options):
        """Apply ``{'a.b.c': value}`` overrides; integer parts index into lists."""
        for dotted, value in options.items():
            parts = dotted.split(".")
            node = self._cfg
            for depth, part in enumerate(parts[:-1]):
                node = self._step(node, part, parts[:depth + 1], dotted, create=True)
            last = parts[-1]
            if isinstance(node, list):
                idx = self._index(node, last, dotted)
                node[idx] = _wrap(value)
            else:
                node[last] = _wrap(value)

    def _step(self, node, part, path, dotted, create):
        if isinstance(node, list):
            return node[self._index(node, part, dotted)]
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {'.'.join(path[:-1])} is a "
                              f"{type(node).__name__}, not a dict")
        if part not in node:
            if not create:
                raise ConfigError(f"override {dotted!r}: no key {part!r}")
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

    def dump(self, path):
        """Write the merged config as YAML (or as a python file if ``path`` ends in .py)."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            if path.endswith(".py"):
                for k, v in self.to_dict().items():
                    f.write(f"{k} = {v!r}\n")
            else:
                f.write(self.pretty_text)
