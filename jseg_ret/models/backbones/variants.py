"""Named backbone variants: each backbone class keeps an ``arch_settings`` table next to its code
(VisRetNet: RMT-T/S/B/L, MSCAN-T/S/B/L, VAN-B0..B3) and resolves its constructor arguments
through it, so a config names the variant (``arch='t'``) instead of repeating its numbers.
The tables are listed in docs/models.md."""
import inspect

from ...registry import BACKBONES


def resolve_arch(name, arch, arch_settings, **given):
    """Per-variant defaults: values in ``given`` that are None come from ``arch_settings[arch]``;
    explicit values override the variant's."""
    if arch not in arch_settings:
        raise KeyError(f"{name}: unknown arch {arch!r}; expected one of {sorted(arch_settings)}")
    settings = arch_settings[arch]
    return {k: (settings[k] if v is None and k in settings else v) for k, v in given.items()}


def resolve_backbone_cfg(cfg):
    """The architecture a backbone config builds: ``cfg`` with ``arch`` (the constructor's default
    where the config names none) and every field of the variant's table filled in, explicit
    values kept. A backbone without a variant table gets ``cfg`` back unchanged (as a dict)."""
    cls = BACKBONES.lookup(cfg["type"])
    table = getattr(cls, "arch_settings", None)
    if table is None:
        return dict(cfg)
    arch = cfg.get("arch", inspect.signature(cls).parameters["arch"].default)
    given = {k: cfg.get(k) for k in table.get(arch, {})}
    return dict(cfg, arch=arch, **resolve_arch(cfg["type"], arch, table, **given))


__all__ = ["resolve_arch", "resolve_backbone_cfg"]
