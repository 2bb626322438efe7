"""`python -m studio train …`: validate, launch, list, watch, stop, resume and delete fine-tuning runs."""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from studio.yamlio import load_yaml

from studio.cli import CLIError, make_studio


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="fine-tuning runs (LoRA / full) tracked in the studio database")
    sub = p.add_subparsers(dest="train_command", metavar="ACTION", required=True)
    for name, helptext in (("validate", "check a config and its dataset, print the report"),
                           ("launch", "queue a run (it starts when the device is free)")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("config", help="YAML config (a preset's fields plus base_model and dataset)")
        q.add_argument("--preset", help="start from this preset; the file's fields override it")
        if name == "launch":
            q.add_argument("--wait", action="store_true", help="follow the run until it ends")
        q.set_defaults(func=_launch if name == "launch" else _validate)
    sub.add_parser("list", help="runs, newest first").set_defaults(func=_list)
    for name, fn, helptext in (("show", "_show", "status, metrics and the log tail of a run"),
                               ("stop", "_stop", "checkpoint and stop a run (or drop it from the queue)"),
                               ("resume", "_resume", "continue a stopped or failed run from its latest checkpoint"),
                               ("delete", "_delete", "delete a finished run and its files"),
                               ("backend", "_backend", "print the backends-config entry for a completed run")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("run", help="run id (or a unique prefix)")
        q.set_defaults(func=globals()[fn])
    q = sub.add_parser("presets", help="list presets, or print one as YAML")
    q.add_argument("name", nargs="?")
    q.set_defaults(func=_presets)


def _config_data(args) -> dict:
    from finetune.presets import PresetError, load_preset

    try:
        data = load_yaml(Path(args.config).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise CLIError(f"{args.config}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise CLIError(f"{args.config}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise CLIError(f"{args.config}: expected a mapping of settings")
    if args.preset:
        try:
            data = {**load_preset(make_studio(), args.preset), **data}
        except PresetError as exc:
            raise CLIError(str(exc)) from None
    return data


def _launcher():
    from finetune.launcher import Launcher

    return Launcher(make_studio())


def _errors():
    from finetune.config import ConfigError
    from finetune.datasets import DatasetError
    from finetune.launcher import LaunchError
    from finetune.results import ResultError

    return (ConfigError, DatasetError, LaunchError, ResultError)


def _validate(args) -> int:
    launcher = _launcher()
    try:
        config, report = launcher.validate(_config_data(args))
    except _errors() as exc:
        raise CLIError(str(exc)) from None
    print(report.to_markdown())
    from finetune.launcher import memory_estimate

    memory = memory_estimate(config)
    if memory:
        print(memory.replace("**", ""))
    return 0 if report.launchable(config.dataset.skip_invalid) else 1


def _launch(args) -> int:
    launcher = _launcher()
    try:
        run_id = launcher.submit(_config_data(args))
    except _errors() as exc:
        raise CLIError(str(exc).splitlines()[0] if "\n" not in str(exc)[:200] else str(exc)) from None
    run = launcher.tracker.get(run_id)
    print(f"{run_id} {run.status} {run.name}\ncommand: {run.command}\nlog: {run.log_path}")
    if not args.wait:
        return 0
    run = launcher.follow(run_id, lambda r: print(
        f"step {r.step}/{r.total_steps} {r.status} "
        + " ".join(f"{k}={v:.4g}" for k, v in sorted(r.latest.items())), flush=True))
    print(run.status + (f": {run.error.splitlines()[0]}" if run.error else ""))
    return 0 if run.status != "failed" else 1


def _find(launcher, prefix: str):
    runs = [r for r in launcher.tracker.list_runs(limit=100_000) if r.id.startswith(prefix)]
    if not runs:
        raise CLIError(f"no run id starts with {prefix!r}")
    if len(runs) > 1:
        raise CLIError(f"{prefix!r} matches {len(runs)} runs; give more of the id")
    return runs[0]


def _list(args) -> int:
    from finetune.summary import RUN_COLUMNS, run_row

    launcher = _launcher()
    launcher.reconcile()
    rows = [run_row(r) for r in launcher.tracker.list_runs()]
    if not rows:
        print("no runs yet")
        return 0
    widths = [max(len(str(x)) for x in col) for col in zip(RUN_COLUMNS, *rows)]
    for row in [RUN_COLUMNS, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))
    return 0


def _show(args) -> int:
    from finetune.summary import status_text

    launcher = _launcher()
    launcher.reconcile()
    run = _find(launcher, args.run)
    print(status_text(launcher.tracker.get(run.id)).replace("  \n", "\n"))
    print("---- log ----\n" + launcher.log_tail(run.id, 20))
    return 0


def _control(args, action: str) -> int:
    launcher = _launcher()
    run = _find(launcher, args.run)
    try:
        result = getattr(launcher, action)(run.id)
    except _errors() as exc:
        raise CLIError(str(exc)) from None
    print(f"{run.id} {result or 'deleted'}")
    return 0


def _stop(args) -> int:
    return _control(args, "stop")


def _resume(args) -> int:
    return _control(args, "resume")


def _delete(args) -> int:
    return _control(args, "delete")


def _backend(args) -> int:
    from finetune.results import result_entry

    launcher = _launcher()
    run = _find(launcher, args.run)
    try:
        entry = result_entry(run)
    except _errors() as exc:
        raise CLIError(str(exc)) from None
    print(yaml.safe_dump({"backends": {entry.name: {
        "engine": entry.engine, "label": entry.label, "options": entry.options,
        "capabilities": sorted(c.value for c in entry.capabilities)}}}, sort_keys=False))
    return 0


def _presets(args) -> int:
    from finetune.presets import PresetError, list_presets, load_preset

    studio = make_studio()
    if not args.name:
        print("\n".join(list_presets(studio)))
        return 0
    try:
        print(yaml.safe_dump(load_preset(studio, args.name), sort_keys=False))
    except PresetError as exc:
        raise CLIError(str(exc)) from None
    return 0
