"""``custom_hooks=[dict(type=..., priority=...)]``: user hooks from the HOOKS registry (mmseg)."""
from ...config import ConfigError
from ...registry import HOOKS, build_from_cfg
from .hook import Hook, get_priority


def build_custom_hooks(specs):
    """``[(hook, priority)]`` for the config's ``custom_hooks`` list; an unknown ``type`` is a
    ConfigError naming it and the registered hooks. The priority defaults to the class's own
    (``NORMAL`` for a plain Hook)."""
    if specs is None:
        return []
    if not isinstance(specs, (list, tuple)):
        raise ConfigError(f"custom_hooks={specs!r}: expected a list of dict(type=..., ...)")
    built = []
    for i, spec in enumerate(specs):
        key = f"custom_hooks[{i}]"
        if not isinstance(spec, dict) or "type" not in spec:
            raise ConfigError(f"{key}={spec!r}: expected dict(type=..., priority=..., ...)")
        spec = dict(spec)
        priority = spec.pop("priority", None)
        hook_type = spec["type"]
        if isinstance(hook_type, str) and hook_type not in HOOKS:
            raise ConfigError(f"{key}: type {hook_type!r} is not a registered hook; registered: "
                              f"{', '.join(HOOKS.keys())} (a Hook subclass registered with "
                              "@HOOKS.register_module() before the runner is built)")
        try:
            hook = build_from_cfg(spec, HOOKS)
        except TypeError as e:
            raise ConfigError(f"{key}: {e}") from e
        if not isinstance(hook, Hook):
            raise ConfigError(f"{key}: {hook_type!r} built a {type(hook).__name__}, "
                              "not a Hook (jseg_ret.engine.hooks.Hook)")
        built.append((hook, get_priority(hook.priority if priority is None else priority,
                                         f"{key}.priority")))
    return built
