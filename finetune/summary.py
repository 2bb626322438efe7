"""Plain-data views of runs for the tab and the CLI: table rows, progress, ETA, comparisons."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from finetune.tracker import RunInfo, RunTracker
from studio.markup import md_code_block, md_text

RUN_COLUMNS = ["name", "status", "task", "method", "step", "loss", "steps/s", "ETA", "created", "id"]


def eta_seconds(run: RunInfo) -> float | None:
    rate = run.latest.get("steps_per_s")
    if run.status != "running" or not rate or not run.total_steps:
        return None
    return max(0.0, (run.total_steps - run.step) / rate)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def run_row(run: RunInfo) -> list[Any]:
    loss = run.latest.get("loss")
    rate = run.latest.get("steps_per_s")
    return [run.name, run.status, run.task, run.method, f"{run.step}/{run.total_steps or '?'}",
            "" if loss is None else f"{loss:.4f}", "" if rate is None else f"{rate:.2f}",
            fmt_duration(eta_seconds(run)), run.created_at.strftime("%Y-%m-%d %H:%M"), run.id]


def status_text(run: RunInfo) -> str:
    """A few lines of markdown describing where a run stands."""
    lines = [f"**{md_text(run.name)}** — `{run.status}` · {run.task} / {run.method} · device {run.device}"]
    pct = f" ({100 * run.step / run.total_steps:.0f}%)" if run.total_steps else ""
    lines.append(f"step {run.step} of {run.total_steps or '?'}{pct}")
    if run.latest:
        lines.append(" · ".join(f"{k} {v:.4g}" for k, v in sorted(run.latest.items())))
    eta = eta_seconds(run)
    if eta is not None:
        lines.append(f"ETA {fmt_duration(eta)}")
    if run.heartbeat_at and run.status in ("running", "stopping"):
        age = (datetime.now(timezone.utc) - run.heartbeat_at).total_seconds()
        lines.append(f"last report {age:.0f}s ago")
    if run.result_path:
        lines.append(f"result: `{run.result_path}`")
    if run.error:
        lines.append(md_code_block(run.error[-3000:]))
    return "  \n".join(lines)


CURVE_COLUMNS = ["run", "metric", "series", "step", "value"]


def curve_frame(rows: list[dict[str, Any]]):
    """The rows as a table whose step and value columns are numeric even when it is empty: a plot that
    first receives untyped empty columns fixes its axes as categories and keeps them."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    return frame.astype({"run": "string", "metric": "string", "series": "string", "step": "int64",
                         "value": "float64"})


def curve_rows(tracker: RunTracker, runs: list[RunInfo], keys=("loss", "val_loss")) -> list[dict[str, Any]]:
    """Long-format points (run, metric, step, value) for overlaid curves."""
    points = []
    for run in runs:
        for key in keys:
            for step, value in tracker.curve(run.id, key, max_points=1000):
                points.append({"run": run.name, "metric": key, "series": f"{run.name} {key}",
                               "step": step, "value": value})
    return points


def compare_rows(tracker: RunTracker, runs: list[RunInfo]) -> tuple[list[str], list[list[Any]]]:
    """Config values that differ between the runs, plus each run's final metrics."""
    params = {r.id: tracker.params(r.id) for r in runs}
    skip = ("output_dir", "run_id", "database_url", "manifest", "name")
    keys = sorted({k for p in params.values() for k in p if k not in skip})
    if len(runs) > 1:
        keys = [k for k in keys if len({params[r.id].get(k) for r in runs}) > 1]
    metric_keys = sorted({k for r in runs for k in r.latest if k != "lr"})
    header = ["run", "status", "step"] + metric_keys + keys
    rows = [[r.name, r.status, r.step] + [round(r.latest[k], 5) if k in r.latest else "" for k in metric_keys]
            + [params[r.id].get(k, "") for k in keys] for r in runs]
    return header, rows
