"""Compare a training-parity run with a reference (both in the train_reference.npz layout).

Categories and their measures (shared/fixtures/README.md gives what a correct float32
implementation reaches against the float64 reference; the defaults leave a margin over it):

- loss: abs(a - b) / abs(b); default 1e-5 (README ~2e-6).
- grad: max abs(a - b) / max abs(b) over g_head, or the g_norm relative error if larger;
  1e-4 (README ~1e-5).
- zero_grad: for tensors whose reference g_norm is below 1e-3 x the median g_norm
  (mathematically zero: they must be near zero, not match), our g_norm / that median; 1e-3.
- bn: max abs(a - b) / max abs(b) per running_mean / running_var; 1e-4 (README ~1e-5).
- multipliers: (lr_mult, decay_mult) each parameter got vs the recipe's param_groups; exact.
- weight: norm(a - b) / norm(b - w0) over w_head, w0 the weights before the first step;
  1e-2 (README ~1% of each tensor's update).
- weight_all: the same over all tensors of the weight category together; 1e-3 (README ~0.1%).
- zero_weight: zero-gradient and unused tensors: max abs(a - b) / (steps x lr_eff x
  (1 + wd_eff x max abs(w0))), the most AdamW moves an element; 1.
"""
from dataclasses import asdict, dataclass, field

import numpy as np

ZERO_GRAD_FRACTION = 1e-3  # README: g_norm below 1e-3 x the median g_norm is zero


@dataclass
class Tolerances:
    loss: float = 1e-5
    grad: float = 1e-4
    zero_grad: float = 1e-3
    bn: float = 1e-4
    weight: float = 1e-2
    weight_all: float = 1e-3
    zero_weight: float = 1.0


CATEGORY_TITLES = {
    "loss": "loss",
    "multipliers": "optimizer multipliers (lr_mult, decay_mult) vs recipe",
    "grad": "gradients",
    "zero_grad": "zero gradients (must be near zero)",
    "bn": "BatchNorm running statistics",
    "weight": "weights after the optimizer steps, per tensor",
    "weight_all": "weights after the optimizer steps, all tensors together",
    "zero_weight": "weights of zero-gradient / unused tensors (AdamW step bound)",
}


@dataclass
class Row:
    category: str
    name: str
    value: float          # the category's measure (see the module docstring)
    limit: float
    passed: bool
    max_abs_err: float = None
    note: str = ""

    def as_dict(self):
        d = asdict(self)
        d["pass"] = d.pop("passed")
        return d


@dataclass
class TrainComparison:
    rows: list = field(default_factory=list)
    median_g_norm: float = None

    @property
    def ok(self):
        return all(r.passed for r in self.rows)

    def by_category(self, category):
        return [r for r in self.rows if r.category == category]

    def failures(self):
        return [r for r in self.rows if not r.passed]

    def summary(self):
        """{category: {n, failed, worst, worst_tensor, limit}} for the categories present."""
        out = {}
        for cat in CATEGORY_TITLES:
            rows = self.by_category(cat)
            if not rows:
                continue
            worst = max(rows, key=lambda r: (not r.passed, _ratio(r)))
            out[cat] = {"n": len(rows), "failed": sum(not r.passed for r in rows),
                        "worst": worst.value, "worst_tensor": worst.name,
                        "limit": worst.limit}
        return out

    def summary_lines(self):
        lines = []
        for cat, s in self.summary().items():
            verdict = "PASS" if not s["failed"] else f"FAIL ({s['failed']} failed)"
            within = "exact" if s["limit"] == 0 else f"within {s['limit']:g}"
            lines.append(f"{CATEGORY_TITLES[cat]}: {s['n'] - s['failed']}/{s['n']} {within}; "
                         f"worst {s['worst']:.3e} ({s['worst_tensor']})  {verdict}")
        return lines

    def worst_table(self, n=10):
        rows = sorted(self.rows, key=lambda r: (r.passed, -_ratio(r)))[:n]
        lines = [f"{'category':<12} {'tensor':<58} {'value':>10} {'limit':>9}  result"]
        for r in rows:
            note = f"  ({r.note})" if r.note else ""
            lines.append(f"{r.category:<12} {r.name:<58} {r.value:>10.3e} {r.limit:>9.2e}  "
                         f"{'PASS' if r.passed else 'FAIL'}{note}")
        return lines

    def as_json(self):
        return {"pass": self.ok, "median_g_norm": self.median_g_norm,
                "summary": self.summary(), "rows": [r.as_dict() for r in self.rows]}


def _ratio(row):
    if not np.isfinite(row.value):
        return np.inf
    return row.value / row.limit if row.limit > 0 else (np.inf if row.value > 0 else 0.0)


def _row(category, name, value, limit, max_abs=None, note=""):
    value = float(value)
    ok = bool(np.isfinite(value) and value <= limit)
    return Row(category, name, value, float(limit), ok,
               None if max_abs is None else float(max_abs), note)


def _rel_max(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        return np.inf, np.inf
    diff = np.abs(a - b)
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(b).max()) if b.size else 0.0
    return (max_abs / scale if scale > 0 else max_abs), max_abs


def _names(arrays, prefix):
    return [k[len(prefix):] for k in arrays if k.startswith(prefix)]


def compare_training(ours, ref, initial_heads, multipliers=None, optimizer_cfg=None, steps=1,
                     recipe_groups=None, tol=None):
    """A ``TrainComparison`` of ``ours`` against ``ref`` (dicts in the reference layout).

    ``initial_heads``: name -> the first elements of each parameter before the first step;
    ``multipliers``: name -> (lr_mult, decay_mult) the optimizer used, checked against
    ``recipe_groups`` (the recipe's ``param_groups``) and used for the AdamW step bound.
    """
    tol = tol or Tolerances()
    multipliers = multipliers or {}
    opt = optimizer_cfg or {}
    res = TrainComparison()

    a, b = float(ours["loss"]), float(ref["loss"])
    res.rows.append(_row("loss", "loss", abs(a - b) / abs(b) if b else abs(a - b), tol.loss,
                         abs(a - b), f"ours {a:.8g}, reference {b:.8g}"))

    for name, (lr_mult, decay_mult) in multipliers.items():
        want = (recipe_groups or {}).get(name)
        if want is None:
            continue
        diff = max(abs(lr_mult - want["lr_mult"]), abs(decay_mult - want["decay_mult"]))
        note = "" if diff <= 1e-12 else (
            f"ours lr_mult {lr_mult:g}, decay_mult {decay_mult:g}; recipe lr_mult "
            f"{want['lr_mult']:g}, decay_mult {want['decay_mult']:g} "
            f"({want.get('rule', 'rule not given')})")
        res.rows.append(Row("multipliers", name, diff, 0.0, diff <= 1e-12, note=note))

    ref_norms = {n: float(ref[f"g_norm:{n}"]) for n in _names(ref, "g_norm:")}
    median = float(np.median(list(ref_norms.values()))) if ref_norms else 0.0
    res.median_g_norm = median
    zero = {n for n, v in ref_norms.items() if v < ZERO_GRAD_FRACTION * median}
    our_norms = {n: float(ours[f"g_norm:{n}"]) for n in _names(ours, "g_norm:")}
    for name in sorted(set(ref_norms) | set(our_norms), key=_order(ref, ours)):
        if name in zero or name not in ref_norms:
            ours_n = our_norms.get(name, 0.0)
            note = "no gradient in the reference (unused)" if name not in ref_norms else ""
            res.rows.append(_row("zero_grad", name, ours_n / median if median else ours_n,
                                 tol.zero_grad, ours_n, note))
            continue
        if name not in our_norms:
            res.rows.append(Row("grad", name, np.inf, tol.grad, False,
                                note="no gradient here (the loss does not reach it)"))
            continue
        rel_head, max_abs = _rel_max(ours[f"g_head:{name}"], ref[f"g_head:{name}"])
        rel_norm = abs(our_norms[name] - ref_norms[name]) / ref_norms[name]
        res.rows.append(_row("grad", name, max(rel_head, rel_norm), tol.grad, max_abs,
                             f"g_norm rel err {rel_norm:.2e}" if rel_norm > rel_head else ""))

    for name in _names(ref, "bn:"):
        if f"bn:{name}" not in ours:
            res.rows.append(Row("bn", name, np.inf, tol.bn, False, note="missing here"))
            continue
        rel, max_abs = _rel_max(ours[f"bn:{name}"], ref[f"bn:{name}"])
        res.rows.append(_row("bn", name, rel, tol.bn, max_abs))

    _compare_weights(res, ours, ref, initial_heads, zero | (set(our_norms) ^ set(ref_norms))
                     | {n for n in _names(ref, "w_head:") if n not in ref_norms},
                     multipliers, opt, steps, tol)
    return res


def _order(*arrays):
    order = {}
    for arr in arrays:
        for k in arr:
            order.setdefault(k.split(":", 1)[-1], len(order))
    return lambda name: order.get(name, len(order))


def _compare_weights(res, ours, ref, initial, unmatched, multipliers, opt, steps, tol):
    err_sq = upd_sq = 0.0
    lr, wd = float(opt.get("lr", 0.0)), float(opt.get("weight_decay", 0.0))
    for name in _names(ref, "w_head:"):
        w_ref = np.asarray(ref[f"w_head:{name}"], np.float64)
        if f"w_head:{name}" not in ours or name not in initial:
            cat = "zero_weight" if name in unmatched else "weight"
            res.rows.append(Row(cat, name, np.inf, getattr(tol, cat), False,
                                note="missing here"))
            continue
        w = np.asarray(ours[f"w_head:{name}"], np.float64)
        w0 = np.asarray(initial[name], np.float64)
        if w.shape != w_ref.shape or w0.shape != w_ref.shape:
            res.rows.append(Row("weight", name, np.inf, tol.weight, False,
                                note=f"shape {w.shape} vs reference {w_ref.shape}"))
            continue
        err = w - w_ref
        max_abs = float(np.abs(err).max()) if err.size else 0.0
        if name in unmatched:
            lr_mult, decay_mult = multipliers.get(name, (1.0, 1.0))
            bound = steps * lr * lr_mult * (1.0 + wd * decay_mult * float(np.abs(w0).max()))
            res.rows.append(_row("zero_weight", name, max_abs / bound if bound else max_abs,
                                 tol.zero_weight, max_abs, f"bound {bound:.2e}"))
            continue
        update = w_ref - w0
        upd_norm = float(np.linalg.norm(update))
        err_norm = float(np.linalg.norm(err))
        err_sq += err_norm ** 2
        upd_sq += upd_norm ** 2
        res.rows.append(_row("weight", name, err_norm / upd_norm if upd_norm else err_norm,
                             tol.weight, max_abs))
    if upd_sq > 0:
        res.rows.append(_row("weight_all", "(all tensors)", np.sqrt(err_sq / upd_sq),
                             tol.weight_all))
