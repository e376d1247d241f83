"""A self-contained HTML report (report.html + plots/losses.png) for one run directory."""
# ruff: noqa: E501 (inline CSS)

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from condgen.errors import CheckpointError
from condgen.train.images import atomic_output
from condgen.train.logging import read_metrics

__all__ = ["merge_metrics", "plot_losses", "write_report"]

_SAMPLE_RE = re.compile(r"^step_(\d+)\.png$")
MAX_STRIP = 12


# ---------------------------------------------------------------- data


def merge_metrics(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Group records by kind, merge lines with the same (kind, step) (later wins), and sort by step."""
    merged: dict[tuple[str, int], dict[str, Any]] = {}
    for rec in records:
        try:
            key = (str(rec.get("kind", "train")), int(rec["step"]))
        except (KeyError, TypeError, ValueError):
            continue
        # Later lines win so that steps re-run after a resume replace the ones logged before the crash.
        merged.setdefault(key, {}).update(rec)
    out: dict[str, list[dict[str, Any]]] = {}
    for (kind, step), rec in sorted(merged.items(), key=lambda kv: kv[0][1]):
        rec["step"] = step
        out.setdefault(kind, []).append(rec)
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _loss_group(key: str) -> str:
    """Group "loss/D", "loss/D_real", "loss/D/fake" under "D" so curves on one scale share a subplot."""
    rest = key.split("/", 1)[1] if "/" in key else key
    return re.split(r"[/_]", rest, maxsplit=1)[0] or key


def _sample_steps(run_dir: Path) -> list[tuple[int, str]]:
    """Return (step, relative path) of every samples/step_*.png, sorted by step."""
    folder = run_dir / "samples"
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _SAMPLE_RE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), f"samples/{p.name}"))
    return sorted(found)


def _evenly(items: list, k: int) -> list:
    """Pick up to k items spread evenly, always keeping the first and the last."""
    if len(items) <= k:
        return list(items)
    idx = sorted({round(i * (len(items) - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in idx]


def _load_config(run_dir: Path) -> tuple[str | None, dict[str, Any]]:
    """Return (raw config text, parsed mapping); a missing or unparsable file yields what it can."""
    path = run_dir / "config.yaml"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None, {}
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError:
        cfg = None
    return text, cfg if isinstance(cfg, dict) else {}


def _model_name(cfg: dict[str, Any]) -> str:
    model = cfg.get("model")
    if isinstance(model, dict):
        model = model.get("name")
    return str(model) if model else "unknown model"


# ---------------------------------------------------------------- plot


def _moving_average(y: list[float]) -> tuple[int, list[float]]:
    """Centred moving average with a window that grows with the run length; returns (window, values)."""
    import numpy as np

    w = max(1, min(len(y) // 25, 500))
    if w <= 1:
        return 1, list(y)
    return w, np.convolve(
        np.asarray(y, dtype=float), np.ones(w) / w, mode="valid"
    ).tolist()


def plot_losses(
    train: Sequence[dict[str, Any]], path: str | os.PathLike
) -> Path | None:
    """Plot every "loss*" train scalar (one subplot per group, raw faint + moving average bold); None if none."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for rec in train:
        for key, v in rec.items():
            if key.startswith("loss") and _is_number(v):
                xs, ys = series.setdefault(key, ([], []))
                xs.append(rec["step"])
                ys.append(float(v))
    if not series:
        return None
    groups: dict[str, list[str]] = {}
    for key in series:
        groups.setdefault(_loss_group(key), []).append(key)

    import numpy as np

    # The object-oriented API (no pyplot) keeps this off any interactive backend and global state,
    # so it is safe inside a training process or a notebook.
    from matplotlib.figure import Figure

    ncols = 1 if len(groups) == 1 else 2
    nrows = math.ceil(len(groups) / ncols)
    fig = Figure(figsize=(6.4 * ncols, 3.2 * nrows), dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (group, keys) in zip(axes, groups.items()):
        lows, highs = [], []
        for i, key in enumerate(keys):
            xs, ys = series[key]
            color = f"C{i % 10}"
            w, ma = _moving_average(ys)
            label = key.removeprefix("loss/")
            if w > 1:
                ax.plot(xs, ys, color=color, alpha=0.25, linewidth=0.8)
                start = (w - 1) // 2
                ax.plot(
                    xs[start : start + len(ma)],
                    ma,
                    color=color,
                    linewidth=2.0,
                    label=label,
                )
            else:
                ax.plot(
                    xs,
                    ys,
                    color=color,
                    linewidth=2.0,
                    marker="o",
                    markersize=3,
                    label=label,
                )
            lo, hi = np.percentile(ys, [1, 99])
            lows += [lo, min(ma)]
            highs += [hi, max(ma)]
        # GAN losses spike early or at collapse; fitting the axis to the 1-99th percentile
        # (and the smoothed curve) keeps the bulk of training readable.
        lo, hi = min(lows), max(highs)
        if hi > lo:
            margin = 0.05 * (hi - lo)
            ax.set_ylim(lo - margin, hi + margin)
        ax.set_title(group)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    for ax in axes[len(groups) :]:
        ax.set_visible(False)

    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


# ---------------------------------------------------------------- html


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _href(rel: str) -> str:
    """A relative URL that survives odd characters in file names, escaped for an HTML attribute."""
    return _e(quote(rel))


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if not math.isfinite(v) else f"{v:.6g}"
    return str(v)


def wall_seconds(records: Sequence[dict[str, Any]]) -> float:
    """Seconds spent in training sessions: each from the ``session_start`` time on its first log line to the last
    line written before the next session (a crash ends a session at its last line); lines from before that key
    existed count from the first line on."""
    total, start, last = 0.0, None, None
    for rec in records:
        t = rec.get("time")
        if not _is_number(t):
            continue
        began = rec.get("session_start")
        if _is_number(began):
            if start is not None:
                total += last - start
            start, last = began, began
        elif start is None:
            start = last = t
        last = max(last, t)
    if start is not None:
        total += last - start
    return total


_EVAL_LABELS = {"fid": "FID", "kid_mean": "KID", "kid_std": "KID std", "fid_floor": "FID floor (real test vs train)",
                "kid_floor": "KID floor (real test vs train)"}


def _eval_label(key: str, features: str | None) -> str:
    """A report row name: FID/KID keys name their feature space (a digit-classifier FID is not Inception's)."""
    if key in _EVAL_LABELS:
        return f"{_EVAL_LABELS[key]}, {features} features" if features else _EVAL_LABELS[key]
    return key


def _eval_features(run_dir: Path) -> dict[int, str]:
    """The feature space of each evaluation (step -> name) from RUN/eval.json."""
    try:
        history = json.loads((run_dir / "eval.json").read_text())
        return {int(h["step"]): str(h["features"]) for h in history if "features" in h and h.get("step") is not None}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def _fmt_duration(seconds: float) -> str:
    s = int(max(0, seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(_fmt(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_CSS = """
:root { color-scheme: light dark; --fg:#1d1d1f; --bg:#fff; --muted:#6e6e73; --line:#ddd; --card:#f5f5f7; }
@media (prefers-color-scheme: dark) { :root { --fg:#e8e8ea; --bg:#161618; --muted:#9a9aa0; --line:#333; --card:#222226; } }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg);
       max-width: 1100px; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); font-family: ui-monospace, monospace; font-size: .85rem; word-break: break-all; }
.muted { color: var(--muted); font-style: italic; }
pre { background: var(--card); padding: .8rem; overflow-x: auto; font-size: .85rem; }
table { border-collapse: collapse; margin: .5rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: .25rem .6rem; text-align: left; }
th { background: var(--card); }
img.big { width: 100%; max-width: 768px; image-rendering: pixelated; border: 1px solid var(--line); }
img.plot { max-width: 100%; }
.strip { display: flex; gap: .6rem; overflow-x: auto; padding-bottom: .5rem; }
.strip figure { margin: 0; flex: 0 0 auto; text-align: center; }
.strip img { height: 160px; image-rendering: pixelated; border: 1px solid var(--line); }
.strip figcaption { font-size: .8rem; color: var(--muted); }
summary { cursor: pointer; }
"""


def _render(run_dir: Path) -> str:
    """Build the report page for `run_dir` (also writes plots/losses.png when there are losses)."""
    cfg_text, cfg = _load_config(run_dir)
    model = _model_name(cfg)
    by_kind = merge_metrics(read_metrics(run_dir))
    train = by_kind.get("train", [])
    evals = by_kind.get("eval", [])
    samples = _sample_steps(run_dir)
    all_records = [r for recs in by_kind.values() for r in recs]

    parts: list[str] = []
    add = parts.append
    add(f"<h1>condgen report — {_e(model)}</h1>")
    add(f'<div class="sub">{_e(run_dir.resolve())}</div>')

    # Summary
    summary: list[tuple[str, Any]] = [("model", model)]
    if all_records:
        summary.append(("total steps", max(r["step"] for r in all_records)))
        speed = next(
            (
                r["images_per_s"]
                for r in reversed(train)
                if _is_number(r.get("images_per_s"))
            ),
            None,
        )
        summary.append(("training speed (images/s, last)", speed))
        lr = next((r["lr"] for r in reversed(train) if _is_number(r.get("lr"))), None)
        if lr is not None:
            summary.append(("learning rate (last)", lr))
        times = [r["time"] for r in all_records if _is_number(r.get("time"))]
        if times:
            summary.append(("wall time (training sessions, without the gaps between them)",
                            _fmt_duration(wall_seconds(read_metrics(run_dir)))))
            last = _dt.datetime.fromtimestamp(max(times)).strftime("%Y-%m-%d %H:%M:%S")
            summary.append(("last logged", last))
    else:
        summary.append(("total steps", "no metrics logged yet"))
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>" for k, v in summary
    )
    add(f'<h2>Summary</h2><table class="summary"><tbody>{rows}</tbody></table>')

    # Config
    add("<h2>Config</h2>")
    if cfg_text is None:
        add('<p class="muted">No config.yaml in this run directory.</p>')
    else:
        add(
            f"<details><summary>config.yaml</summary><pre>{_e(cfg_text)}</pre></details>"
        )

    # Samples
    add("<h2>Latest samples</h2>")
    if samples:
        step, rel = samples[-1]
        add(
            f'<figure><a href="{_href(rel)}"><img class="big" src="{_href(rel)}" '
            f'alt="samples at step {step}"></a><figcaption>step {step:,}</figcaption></figure>'
        )
        add("<h2>Samples over time</h2>")
        figs = "".join(
            f'<figure><a href="{_href(r)}"><img src="{_href(r)}" alt="samples at step {s}" loading="lazy"></a>'
            f"<figcaption>step {s:,}</figcaption></figure>"
            for s, r in _evenly(samples, MAX_STRIP)
        )
        add(f'<div class="strip">{figs}</div>')
    else:
        add('<p class="muted">No sample grids yet.</p>')

    # Losses
    add("<h2>Losses</h2>")
    plot = plot_losses(train, run_dir / "plots" / "losses.png")
    if plot is not None:
        # The query string changes with every redraw so a browser does not show a cached plot.
        version = int(plot.stat().st_mtime)
        add(
            f'<img class="plot" src="{_href("plots/losses.png")}?v={version}" alt="loss curves">'
        )
    else:
        add('<p class="muted">No losses logged yet.</p>')

    # Validation (held-out pairs during training, e.g. pix2pix L1/PSNR/SSIM)
    vals = by_kind.get("val", [])
    if vals:
        add("<h2>Validation</h2>")
        cols = [k for k in vals[-1] if k not in ("step", "time", "kind")]
        add(_table(["step", *(c.removeprefix("val/") for c in cols)],
                   [[rec["step"], *(rec.get(c) for c in cols)] for rec in vals], "val-all"))
        val_grids = sorted((int(m.group(1)), f"samples/{p.name}") for p in (run_dir / "samples").glob("val_step_*.png")
                           if (m := re.match(r"val_step_(\d+)\.png$", p.name)))
        if val_grids:
            step, rel = val_grids[-1]
            add(f'<figure><a href="{_href(rel)}"><img class="big" src="{_href(rel)}" alt="validation at step {step}">'
                f"</a><figcaption>held-out pairs at step {step:,}: input | output | target</figcaption></figure>")

    # Speed settings chosen by measurement (precision=auto on a CPU)
    calib = by_kind.get("calibration", [])
    if calib:
        rec = calib[-1]
        chosen = "+".join(n for n, k in (("bf16 autocast", "chosen_bf16"), ("channels_last", "chosen_channels_last"),
                                         ("torch.compile", "chosen_compile")) if rec.get(k)) or "fp32, NCHW"
        add(f"<h2>Speed settings</h2><p>precision=auto measured these settings on this machine and chose "
            f"<b>{_e(chosen)}</b>:</p>")
        add(_table(["setting", "images/s"], [(k[len("images_per_s["):-1], v) for k, v in rec.items()
                                             if k.startswith("images_per_s[")], "calibration"))

    # Eval
    add("<h2>Evaluation</h2>")
    if evals:
        latest = evals[-1]
        metric_keys = [k for k in latest if k not in ("step", "time", "kind")]
        features = _eval_features(run_dir).get(latest["step"])
        add(f"<p>Latest evaluation at step {latest['step']:,}:</p>")
        add(
            _table(
                ["metric", "value"],
                [(_eval_label(k, features), latest[k]) for k in metric_keys],
                "eval-latest",
            )
        )
        if len(evals) > 1:
            cols: list[str] = []
            for rec in evals:
                cols += [
                    k
                    for k in rec
                    if k not in ("step", "time", "kind") and k not in cols
                ]
            add("<p>All evaluations:</p>")
            add(
                _table(
                    ["step", *cols],
                    [[rec["step"], *(rec.get(c) for c in cols)] for rec in evals],
                    "eval-all",
                )
            )
    else:
        add('<p class="muted">No evaluation yet.</p>')

    title = f"{model} — {run_dir.name}"
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + '\n<p class="muted">Generated by condgen.</p>\n</body>\n</html>\n'
    )


def write_report(run_dir: str | os.PathLike) -> Path:
    """Write RUN/report.html and RUN/plots/losses.png from whatever the run has produced so far."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(
            f"{run_dir} is not a run directory (it does not exist). "
            "Pass the folder a `condgen train` run wrote, e.g. runs/<name>."
        )
    page = _render(run_dir)
    out = run_dir / "report.html"
    with atomic_output(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
