"""What a checkpoint load did, key by key."""
from dataclasses import dataclass, field


def _names(items, limit):
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")


@dataclass
class LoadReport:
    source: str
    family: str = None
    backbone_only: bool = False
    mapped: list = field(default_factory=list)      # (checkpoint_key, model_key)
    dropped: list = field(default_factory=list)     # (checkpoint_key, reason)
    missing: list = field(default_factory=list)     # model keys the checkpoint did not provide
    unexpected: list = field(default_factory=list)  # checkpoint keys the model does not have
    mismatched: list = field(default_factory=list)  # (model_key, checkpoint_shape, model_shape)
    skipped: list = field(default_factory=list)     # (model_key, reason): left as initialized

    @property
    def ok(self):
        return not (self.missing or self.unexpected or self.mismatched)

    def dropped_keys(self, reason=None):
        return [k for k, r in self.dropped if reason is None or r == reason]

    def summary(self, limit=8):
        kind = "backbone-only" if self.backbone_only else "full-model"
        lines = [f"checkpoint {self.source} ({kind}, family {self.family or 'unknown'}): "
                 f"{len(self.mapped)} loaded, {len(self.dropped)} dropped, "
                 f"{len(self.skipped)} skipped, {len(self.missing)} missing, "
                 f"{len(self.unexpected)} unexpected, {len(self.mismatched)} shape mismatches"]
        by_reason = {}
        for key, reason in self.dropped:
            by_reason.setdefault(reason, []).append(key)
        for reason, keys in by_reason.items():
            lines.append(f"  dropped {len(keys)} ({reason}): {_names(keys, limit)}")
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} ({self.skipped[0][1]}): "
                         f"{_names([k for k, _ in self.skipped], limit)}")
        if self.missing:
            lines.append(f"  missing in checkpoint: {_names(self.missing, limit)}")
        if self.unexpected:
            lines.append(f"  not in the model: {_names(self.unexpected, limit)}")
        for key, ckpt_shape, model_shape in self.mismatched[:limit]:
            lines.append(f"  shape mismatch {key}: checkpoint {ckpt_shape} vs model {model_shape}")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()
