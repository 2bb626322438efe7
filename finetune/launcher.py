"""Starting, queueing, stopping, resuming and checking training processes.

A run is submitted as "queued" with its config file, manifest and log path under
``<data_dir>/runs/<run id>/``; it starts (as ``python -m finetune.train CONFIG``, output to the log
file) when no other run is active on the same device. A process that died without reporting is
marked "failed" with the last lines of its log by :meth:`Launcher.reconcile`.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from finetune.config import PREFERENCE_TASKS, TrainConfig, parse_config, save_config
from finetune.datasets import ValidationReport, read_rows, validate_rows, write_manifest
from finetune.models import ACTIVE_STATUSES, FINISHED_STATUSES
from finetune.tracker import RunInfo, RunTracker
from studio.db import Database, new_id, utcnow

REPO_ROOT = Path(__file__).resolve().parent.parent
_children: dict[int, subprocess.Popen] = {}  # processes this process started (reaped by poll())
_start_lock = threading.Lock()


class LaunchError(ValueError):
    """The run cannot be launched/stopped/resumed as asked; the message says why."""


def detect_device(requested: str) -> str:
    """The device a run will use, without importing torch ("auto": cuda when an NVIDIA GPU is present)."""
    if requested != "auto":
        return requested
    return "cuda" if Path("/dev/nvidia0").exists() or Path("/dev/nvidiactl").exists() else "cpu"


def gpu_count() -> int:
    """GPUs this machine offers (CUDA_VISIBLE_DEVICES if set, else the NVIDIA device files), without torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    return len([p for p in Path("/dev").glob("nvidia[0-9]*") if p.name[6:].isdigit()])


def multi_gpu_command(config_path: str | Path) -> str:
    """The several-GPU line for the form's command box, for the GPUs actually here (none: says so)."""
    n = gpu_count()
    if n < 2:
        return f"(several GPUs: this machine has {n} GPU{'s' if n != 1 else ''}; run the line above)"
    return shlex.join(train_command(config_path, accelerate=True, num_processes=n))


def train_command(config_path: str | Path, *, accelerate: bool = False, num_processes: int = 1,
                  config: TrainConfig | None = None) -> list[str]:
    """The exact command that trains ``config_path`` (``accelerate launch`` for several GPUs; with
    ``config``, its process count and sharding decide)."""
    if config is not None:
        from finetune.distributed import train_command as distributed_command

        return distributed_command(config_path, config)
    if accelerate:
        return [sys.executable, "-m", "accelerate.commands.launch", "--num_processes",
                str(num_processes), "-m", "finetune.train", str(config_path)]
    return [sys.executable, "-m", "finetune.train", str(config_path)]


def read_log_tail(path: str | Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ("" when it does not exist yet)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def process_state(pid: int | None) -> tuple[bool, int | None]:
    """(alive, exit code if known) for a training process on this host."""
    if not pid:
        return False, None
    child = _children.get(pid)
    if child is not None:
        code = child.poll()
        if code is not None:
            _children.pop(pid, None)
            return False, code
        return True, None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, None
    except PermissionError:
        return True, None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False, None
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"finetune.train" not in cmdline and b"accelerate" not in cmdline:
            return False, None  # the pid was reused by something else
    except (OSError, IndexError):
        pass
    return True, None


def _spawn(run: RunInfo) -> int:
    log = open(run.log_path, "ab", buffering=0)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    gpus = run.device.removeprefix("cuda:") if run.device not in ("auto", "cpu", "cuda") else ""
    if gpus:  # "cuda:N" or "0,1" (validated by the config): the run sees only these GPUs
        env["CUDA_VISIBLE_DEVICES"] = gpus
    try:
        proc = subprocess.Popen(shlex.split(run.command), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT), env=env,
                                start_new_session=True)
    finally:
        log.close()
    _children[proc.pid] = proc
    # waited for at once when it ends, whether or not anyone looks at the run again (no zombie)
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{proc.pid}").start()
    return proc.pid


def started_here() -> list[int]:
    """Process ids of training runs this process started that are still running (a test session ends
    them; a server leaves them running on purpose)."""
    return [pid for pid, proc in list(_children.items()) if proc.poll() is None]


def start_next_queued(db: Database | str) -> list[str]:
    """Start the oldest queued run of each device that has no active run; returns started ids."""
    if isinstance(db, str):
        if os.environ.get("RANK", "0") != "0":
            return []
        db = Database(db)
    tracker = RunTracker(db)
    started = []
    with _start_lock:
        runs = tracker.list_runs(statuses=("queued",) + ACTIVE_STATUSES, limit=10_000)
        busy = {r.device for r in runs if r.status in ACTIVE_STATUSES}
        for run in sorted((r for r in runs if r.status == "queued"), key=lambda r: r.created_at):
            if run.device in busy:
                continue
            if not tracker.transition(run.id, "starting", "process starting", only_from=("queued",),
                                      host=socket.gethostname(), started_at=utcnow()):
                continue
            busy.add(run.device)
            try:
                pid = _spawn(run)
            except OSError as exc:
                tracker.transition(run.id, "failed", f"could not start the process: {exc}", error=str(exc),
                                   finished_at=utcnow())
                continue
            tracker.update(run.id, pid=pid, heartbeat_at=utcnow())
            started.append(run.id)
    return started


def check_base_model(config: TrainConfig) -> None:
    """Refuse combinations that cannot train, before a process starts (local folders only)."""
    base = Path(config.base_model).expanduser()
    if config.task.startswith("janus"):
        if base.is_dir() and not (base / "config.json").exists():
            raise LaunchError(f"{base} has no config.json; a Janus base is a transformers Janus folder")
        if base.is_dir():
            from backends.base import BackendError
            from backends.janus import check_janus_checkpoint

            try:
                check_janus_checkpoint("training", str(base), offline=True)
            except BackendError as exc:
                raise LaunchError(f"{exc.reason}; {exc.fix}") from None
        return
    if not base.exists():
        if base.is_absolute() or str(config.base_model).startswith((".", "~")):
            raise LaunchError(f"base model folder {base} does not exist")
        return  # a hub id: checked by the training process
    from finetune.base_models import TaskError, check_pipeline_folder

    try:
        check_pipeline_folder(base)  # DiT pipelines, SDXL refiners and other UNets are refused here
    except TaskError as exc:
        raise LaunchError(str(exc)) from exc
    import json

    unet_cfg = base / "unet" / "config.json"
    in_ch = json.loads(unet_cfg.read_text()).get("in_channels", 4)
    if config.task == "edit" and in_ch == 4 and config.method == "lora":
        raise LaunchError("LoRA editing needs an InstructPix2Pix base (a UNet with 8 input channels); "
                          "use full fine-tuning to turn a text-to-image model into an editor")
    if config.task == "text-to-image" and in_ch != 4:
        raise LaunchError(f"the base UNet takes {in_ch} input channels (an editing model); "
                          "pick the edit task or a text-to-image base model")


def memory_estimate(config: TrainConfig) -> str:
    """The per-GPU memory estimate to show before launch ("" when the model's size is unknown)."""
    from finetune.distributed import estimate_memory

    estimate = estimate_memory(config)
    return estimate.text() if estimate else ""


class Launcher:
    """Submit / stop / resume / delete runs of one studio (its database and runs folder)."""

    def __init__(self, studio) -> None:
        self.studio = studio
        self.tracker = RunTracker(studio.db)

    # -- before launch ---------------------------------------------------------------------
    def validate(self, data: dict[str, Any]) -> tuple[TrainConfig, ValidationReport]:
        """Check the config and every dataset row (raises ConfigError / DatasetError)."""
        config = parse_config(data)
        if config.task in PREFERENCE_TASKS:
            from finetune.preference_data import read_pair_rows, validate_pairs

            return config, validate_pairs(read_pair_rows(config.dataset.name), config.task, config.resolution)
        rows = read_rows(config.dataset, self.studio)
        return config, validate_rows(rows, config.task, config.resolution)

    def submit(self, data: dict[str, Any], *, report: ValidationReport | None = None) -> str:
        """Validate, write the run folder (config, manifest), queue it, start it if the device is free."""
        config, fresh = self.validate(data)
        report = report or fresh
        if not report.launchable(config.dataset.skip_invalid):
            raise LaunchError("the dataset has problems; fix them or tick 'skip invalid rows':\n"
                              + report.to_markdown())
        from finetune.lora import resolve_targets

        if config.method == "lora":
            resolve_targets(config.lora, "janus" if config.task.startswith("janus") else "unet")
        check_base_model(config)
        if config.task in PREFERENCE_TASKS:
            if config.task.startswith("janus-dpo"):
                from finetune.janus_dpo_checks import janus_dpo_refusal as preference_refusal
            else:
                from finetune.preference_checks import preference_refusal

            refusal = preference_refusal(config, report)
            if refusal:
                raise LaunchError(refusal)
        run_id = new_id()
        run_dir = self.studio.settings.runs_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        manifest = write_manifest(report.usable_rows, run_dir / "manifest.jsonl")
        config = config.model_copy(update={
            "name": config.name or f"{config.task}-{config.method}-{run_id[:6]}",
            "output_dir": str(run_dir), "run_id": run_id, "manifest": str(manifest),
            "database_url": self.studio.settings.resolved_database_url,
        })
        config_path = save_config(config, run_dir / "config.yaml")
        command = shlex.join(train_command(config_path, config=config))
        self.tracker.create_run(config=config.to_dict(), output_dir=str(run_dir), run_id=run_id,
                                log_path=str(run_dir / "train.log"), device=detect_device(config.device),
                                command=command, status="queued")
        self.tracker.event(run_id, "dataset", f"{report.usable} of {report.total} rows usable")
        estimate = memory_estimate(config)
        if estimate:
            self.tracker.event(run_id, "memory", estimate)
        start_next_queued(self.studio.db)
        return run_id

    # -- control ---------------------------------------------------------------------------
    def _run(self, run_id: str) -> RunInfo:
        run = self.tracker.get(run_id)
        if run is None:
            raise LaunchError(f"no run with id {run_id}")
        return run

    def stop(self, run_id: str) -> str:
        """Ask a run to checkpoint and stop (a queued run leaves the queue); returns its new status."""
        run = self._run(run_id)
        if run.status == "queued":
            self.tracker.transition(run_id, "stopped", "removed from the queue before it started",
                                    only_from=("queued",), finished_at=utcnow())
            return "stopped"
        if run.status not in ACTIVE_STATUSES:
            raise LaunchError(f"run {run.name} is {run.status}; only queued or running runs can be stopped")
        self.tracker.request_stop(run_id)
        self.tracker.transition(run_id, "stopping", "stop requested: saving a checkpoint",
                                only_from=("starting", "running"))
        if run.pid and run.host == socket.gethostname():
            try:
                os.kill(run.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return "stopping"

    def resume(self, run_id: str) -> str:
        """Queue a stopped or failed run again; it continues from its latest checkpoint."""
        run = self._run(run_id)
        if run.status not in ("stopped", "failed"):
            raise LaunchError(f"run {run.name} is {run.status}; only stopped or failed runs can be resumed")
        self.tracker.transition(run_id, "queued", "resume requested", only_from=("stopped", "failed"),
                                stop_requested=False, pid=None, error=None)
        start_next_queued(self.studio.db)
        return self._run(run_id).status

    def follow(self, run_id: str, on_step=None, poll_s: float = 2.0) -> RunInfo:
        """Wait until the run finishes, calling ``on_step(run)`` whenever its step moves; returns it."""
        last = -1
        while True:
            self.reconcile()
            run = self.tracker.get(run_id)
            if run.step != last and on_step is not None:
                on_step(run)
            last = run.step
            if run.status in FINISHED_STATUSES:
                return run
            time.sleep(poll_s)

    def reconcile(self) -> list[str]:
        """Mark active runs whose process died as failed (with the log tail); start queued runs."""
        failed = []
        host = socket.gethostname()
        for run in self.tracker.list_runs(statuses=ACTIVE_STATUSES, limit=10_000):
            if run.host != host:
                continue  # another machine's run: only its own host can judge its process
            if run.pid is None:
                continue  # being spawned right now
            alive, code = process_state(run.pid)
            if alive:
                continue
            fresh = self.tracker.get(run.id)
            if fresh is None or fresh.status not in ACTIVE_STATUSES:
                continue  # it reported its own end meanwhile
            reason = "the training process ended without reporting"
            if code is not None and code in (-9, 137):
                reason = "the training process was killed (SIGKILL — often the out-of-memory killer)"
            elif code is not None:
                reason += f" (exit code {code})"
            tail = read_log_tail(run.log_path, 30)
            if "out of memory" in tail.lower():
                reason += "; the log reports out of memory"
            message = f"{reason}\n---- last log lines ----\n{tail}"
            if self.tracker.transition(run.id, "failed", message, only_from=ACTIVE_STATUSES,
                                       error=message, finished_at=utcnow()):
                failed.append(run.id)
        start_next_queued(self.studio.db)
        return failed

    def delete(self, run_id: str) -> None:
        """Delete a finished or queued run with its files (stop a running one first)."""
        run = self._run(run_id)
        if run.status in ACTIVE_STATUSES:
            raise LaunchError(f"run {run.name} is {run.status}; stop it before deleting it")
        self.tracker.delete(run_id)
        runs_dir = self.studio.settings.runs_dir.resolve()
        out = Path(run.output_dir).resolve()
        if out.is_dir() and runs_dir in out.parents:
            shutil.rmtree(out, ignore_errors=True)

    def log_tail(self, run_id: str, lines: int = 40) -> str:
        return read_log_tail(self._run(run_id).log_path, lines)

    def finished(self) -> list[RunInfo]:
        return self.tracker.list_runs(statuses=FINISHED_STATUSES)
