"""Registries: a name -> class table per kind of component, and build_from_cfg.

A config dict names its class with ``type``; the remaining keys are constructor arguments.
"""
from __future__ import annotations

import copy
import difflib
import inspect
from typing import Any, Mapping


class Registry:
    """A name -> class (or function) table of one kind of component.

    Args:
        name: The kind, for messages ("backbone").
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries = {}

    def __contains__(self, key):
        return key in self._entries

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"Registry({self.name!r}, {sorted(self._entries)})"

    def keys(self):
        return sorted(self._entries)

    def get(self, key):
        return self._entries.get(key)

    def register_module(self, name: str | None = None, force: bool = False,
                        module: Any = None) -> Any:
        """Register a class: as a decorator (``@REG.register_module()``) or directly.

        Args:
            name: The key; the class's ``__name__`` when None.
            force: Replace an entry of the same key.
            module: The class to register now (direct call); None returns the decorator.

        Returns:
            The decorator, or ``module`` itself for a direct call.

        Raises:
            KeyError: The key is taken by another class and ``force`` is False.
        """
        def _register(obj):
            key = name or obj.__name__
            if key in self._entries and not force and self._entries[key] is not obj:
                raise KeyError(f"{key!r} is already registered in the {self.name} registry "
                               f"(by {self._entries[key].__module__}); pass force=True to replace")
            self._entries[key] = obj
            return obj
        if module is not None:
            return _register(module)
        return _register

    def lookup(self, key: str) -> Any:
        """The registered object of ``key``.

        Raises:
            KeyError: An unknown key; the message names the close matches and all keys.
        """
        if key in self._entries:
            return self._entries[key]
        close = difflib.get_close_matches(str(key), list(self._entries), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise KeyError(f"{key!r} is not in the {self.name} registry.{hint} "
                       f"Registered: {', '.join(self.keys()) or '(none)'}")

    def build(self, cfg: Mapping[str, Any], **default_args: Any) -> Any:
        """``build_from_cfg(cfg, self, default_args)``."""
        return build_from_cfg(cfg, self, default_args)


def build_from_cfg(cfg: Mapping[str, Any], registry: Registry,
                   default_args: Mapping[str, Any] | None = None) -> Any:
    """Instantiate ``registry[cfg['type']](**rest, **default_args)``.

    Args:
        cfg: ``type`` (a registered name, or a class/callable) and the constructor's keyword
            arguments; it is not changed.
        registry: Where ``type`` is looked up.
        default_args: Arguments used where ``cfg`` does not give them.

    Returns:
        The built object.

    Raises:
        TypeError: ``cfg`` is not a dict, or the constructor refuses the arguments (the
            message lists the ones it accepts).
        KeyError: No ``type``, or an unregistered one (naming the close matches).
    """
    if not isinstance(cfg, dict):
        raise TypeError(f"{registry.name} config must be a dict with a 'type' key, got "
                        f"{type(cfg).__name__}: {cfg!r}")
    if "type" not in cfg:
        raise KeyError(f"{registry.name} config has no 'type' key: {dict(cfg)!r}")
    args = copy.deepcopy(dict(cfg))
    obj_type = args.pop("type")
    for k, v in (default_args or {}).items():
        args.setdefault(k, v)
    obj = registry.lookup(obj_type) if isinstance(obj_type, str) else obj_type
    try:
        return obj(**args)
    except TypeError as e:
        # Name the class and the arguments it accepts: a typo in a config key is common.
        if inspect.isclass(obj):
            try:
                params = list(inspect.signature(obj.__init__).parameters)[1:]
            except (TypeError, ValueError):
                params = []
            raise TypeError(f"building {registry.name} {obj_type!r}: {e}. "
                            f"It accepts: {', '.join(params)}") from e
        raise


MODELS = Registry("model")
BACKBONES = Registry("backbone")
NECKS = Registry("neck")
HEADS = Registry("head")
LOSSES = Registry("loss")
DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform")
OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("scheduler")
HOOKS = Registry("hook")
