"""The Fine-tune tab's handlers: the form becomes a run config, runs are launched, watched and compared.

Each method takes component values, makes one call into the fine-tuning engine (finetune.launcher,
tracker, presets, results, compare) and returns component updates. The form's fields are config key
paths (``lora.rank``), so a config and the form convert into each other here, with no other logic.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import gradio as gr
import pandas as pd

from studio.markup import md_text

log = logging.getLogger(__name__)

PICK_RUN = "Select a run in the list to see its loss curve, samples and log."
PICK_RUNS_TO_COMPARE = "Pick two or more runs: their loss curves and settings appear here."
#: lines of the log shown: as many as the box shows, so it opens on the latest rather than on set-up lines
LOG_LINES = 12


def _set(d: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for p in parents:
        d = d.setdefault(p, {})
    d[leaf] = value


def _get(d: dict[str, Any], path: str, default: Any = None) -> Any:
    for p in path.split("."):
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


class FinetuneController:
    """Built from the studio (launcher, tracker, presets, backends), the form's key paths in input order and
    the task-only fields (key path -> the tasks that read it)."""

    def __init__(self, studio, form_keys: list[str], task_fields: dict[str, tuple[str, ...]]) -> None:
        from finetune.launcher import Launcher

        self.studio = studio
        self.keys = list(form_keys)
        self.task_only = dict(task_fields)
        self.launcher = Launcher(studio)
        self.tracker = self.launcher.tracker

    # -- the form and a config ------------------------------------------------------------------
    def form_to_config(self, *values) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key, value in zip(self.keys, values):
            if key == "sample_prompts":
                value = [line.strip() for line in (value or "").splitlines() if line.strip()]
            if value is None:
                continue
            _set(data, key, value)
        if not data.get("sample_prompts"):
            data["sample_every"] = 0
        return data

    def config_to_form(self, data: dict[str, Any]) -> list[Any]:
        out = []
        for key in self.keys:
            value = _get(data, key, gr.update())
            if key == "sample_prompts" and isinstance(value, list):
                value = "\n".join(value)
            out.append(value)
        return out

    def _config(self, values) -> dict[str, Any]:
        from finetune.datasets import confine_source

        return confine_source(self.studio.settings, self.form_to_config(*values))

    def _choices(self) -> list[tuple[str, str]]:
        return [(f"{r.name} · {r.status}", r.id) for r in self.tracker.list_runs()]

    # -- on page load ---------------------------------------------------------------------------
    def register_finished_runs(self) -> None:
        """Runs that finished while the studio was down become backends (once, when the app is built)."""
        from finetune.results import register_completed_runs

        try:
            register_completed_runs(self.studio)
        except Exception:  # a broken result must not keep the studio from starting
            log.exception("could not register finished fine-tune runs as backends")

    def fill_lists(self):
        """Presets, base models (the CPU model and every backend's model folder) and studio datasets."""
        from finetune.presets import CPU_BASE_MODEL, list_presets

        backends = self.studio.backends
        options = [backends.entry(n).options.get("model") for n in backends.names()]
        bases = [str(CPU_BASE_MODEL)] + sorted({str(m) for m in options if m})
        return (gr.update(choices=list_presets(self.studio)), gr.update(choices=bases, value=bases[0]),
                gr.update(choices=self.studio.samples.datasets()))

    def task_fields(self, task):
        """Show only the settings the chosen task reads."""
        return [gr.update(visible=task in tasks) for tasks in self.task_only.values()]

    # -- validate and launch --------------------------------------------------------------------
    def validate(self, *values):
        from finetune.config import ConfigError
        from finetune.datasets import DatasetError
        from finetune.launcher import memory_estimate
        from studio.serverpaths import ServerPathRefused

        try:
            config, report = self.launcher.validate(self._config(values))
        except (ConfigError, DatasetError, ServerPathRefused) as exc:
            return f"⚠️ {md_text(exc)}"
        ok = report.launchable(config.dataset.skip_invalid)
        memory = memory_estimate(config)
        return (("✅ ready to launch\n\n" if ok else "❌ not launchable\n\n") + report.to_markdown()
                + (f"\n\n{memory}" if memory else ""))

    def launch(self, *values):
        from finetune.config import ConfigError
        from finetune.datasets import DatasetError
        from finetune.launcher import LaunchError, multi_gpu_command

        try:
            run_id = self.launcher.submit(self._config(values))
        except (ConfigError, DatasetError, LaunchError, ValueError) as exc:
            gr.Warning(str(exc).splitlines()[0])
            return f"⚠️ {md_text(exc)}", gr.update(), gr.update()
        run = self.tracker.get(run_id)
        cmd = run.command + "\n" + multi_gpu_command(f"{run.output_dir}/config.yaml")
        return (f"Launched **{md_text(run.name)}** ({run.status}).", cmd,
                gr.update(choices=self._choices(), value=run_id))

    # -- watching runs --------------------------------------------------------------------------
    def refresh(self, selected):
        """The runs table, the picker, and the selected run's status, curve, samples and log tail."""
        from finetune.summary import RUN_COLUMNS, curve_rows, run_row, status_text

        self.launcher.reconcile()
        runs = self.tracker.list_runs()
        table = pd.DataFrame([run_row(r) for r in runs], columns=RUN_COLUMNS)
        choices = [(f"{r.name} · {r.status}", r.id) for r in runs]
        run = self.tracker.get(selected) if selected else None
        if run is None:  # none selected, or the selected run was deleted meanwhile
            # clear the choice only when the selected run is gone: a tick that began before a launch
            # selected the new run must not take that selection back
            return (table, gr.update(choices=choices, value=None) if selected else gr.update(choices=choices),
                    PICK_RUN, _curve([]), [], "")
        curve = _curve(curve_rows(self.tracker, [run]))
        gallery = [(path, f"step {step}: {prompt}") for step, prompt, path in self.tracker.samples(run.id)]
        return (table, gr.update(choices=choices), status_text(run), curve, gallery,
                self.launcher.log_tail(run.id, LOG_LINES))

    def run_choices(self):
        return gr.update(choices=self._choices())

    def compare_runs(self, ids):
        from finetune.summary import compare_rows, curve_rows

        runs = [r for r in (self.tracker.get(i) for i in ids or []) if r is not None]
        header, rows = compare_rows(self.tracker, runs)
        curve = curve_rows(self.tracker, runs)
        shown = bool(runs)
        return (_curve(curve), gr.update(value=pd.DataFrame(rows, columns=header), visible=shown),
                "" if shown else PICK_RUNS_TO_COMPARE)

    # -- what the buttons beside a run do --------------------------------------------------------
    def _on_run(self, run_id, act):
        from finetune.launcher import LaunchError
        from finetune.results import ResultError

        if not run_id:
            gr.Warning("select a run first")
            return gr.update()
        try:
            return act(run_id)
        except (LaunchError, ResultError) as exc:
            gr.Warning(str(exc))
            return f"⚠️ {md_text(exc)}"

    def stop(self, run_id):
        return self._on_run(run_id, lambda r: f"Run {self.launcher.stop(r)}.")

    def resume(self, run_id):
        return self._on_run(run_id, lambda r: f"Run {self.launcher.resume(r)}: it continues from its latest checkpoint.")

    def delete(self, run_id):
        def act(r):
            self.launcher.delete(r)
            return "Run deleted with its files."

        return self._on_run(run_id, act)

    def use_as_backend(self, run_id):
        from finetune.results import register_result

        def act(r):
            name = register_result(self.studio, r)
            return f"✅ Backend **{md_text(name)}** added: every tab lists it now (it renders at its training size)."

        return self._on_run(run_id, act)

    def load_run(self, run_id):
        run = self.tracker.get(run_id) if run_id else None
        if run is None:
            gr.Warning("select a run first")
            return [gr.update()] * len(self.keys)
        return self.config_to_form(run.config)

    # -- comparing a run with its base ---------------------------------------------------------
    def plan_comparison(self, run_id):
        """Register the result and its base, and say what the comparison would make and how long it takes."""
        from finetune.compare import plan_comparison
        from finetune.results import ResultError

        if not run_id:
            return "Select a finished run first.", gr.update(visible=False)
        try:
            plan = plan_comparison(self.studio, run_id)
        except (ResultError, ValueError) as exc:
            return f"⚠️ {md_text(exc)}", gr.update(visible=False)
        return (f"Ready: {md_text(plan.summary())}. Press **Start the comparison** to make the blind batch; "
                "you can cancel and resume it later.", gr.update(visible=True))

    def start_comparison(self, run_id):
        """Make the blind batch and generate it, with its progress beside the buttons until it ends."""
        from finetune.compare import create_comparison, plan_comparison
        from finetune.results import ResultError
        from studio.annotation import AnnotationError, generation

        try:
            batch_id = create_comparison(self.studio, plan_comparison(self.studio, run_id))
        except (ResultError, AnnotationError, ValueError) as exc:
            yield f"⚠️ {md_text(exc)}", gr.update(), gr.update(), None
            return
        job = generation.start_job(self.studio, batch_id)
        while job.running:
            yield (f"Comparison batch made: {md_text(job.text())}", gr.update(visible=False),
                   gr.update(visible=True), batch_id)
            time.sleep(0.5)
        yield (f"Comparison batch {md_text(job.text())}. Vote on it in the **Annotate** tab (pick the batch "
               "named after the run); its results are under Results.", gr.update(visible=False),
               gr.update(visible=False), batch_id)

    def cancel_comparison(self, batch_id):
        from studio.annotation import generation

        job = generation.cancel_job(self.studio, batch_id) if batch_id else None
        return ("Cancelling; what is made is kept, and Resume in the Annotate tab makes the rest."
                if job else "No comparison is running.")

    # -- presets ---------------------------------------------------------------------------------
    def load_preset(self, name):
        from finetune import presets

        if not name:
            gr.Warning("pick a preset first")
            return [gr.update()] * (len(self.keys) + 1)
        try:
            form = self.config_to_form(presets.load_preset(self.studio, name))
        except presets.PresetError as exc:
            gr.Warning(str(exc))
            return [gr.update()] * (len(self.keys) + 1)
        note = presets.PRESET_NOTES.get(name)
        return form + [f"**{name}**: {note}" if note else gr.update()]

    def save_preset(self, name, *values):
        from finetune import presets

        try:
            presets.save_preset(self.studio, name or "", self.form_to_config(*values))
        except presets.PresetError as exc:
            gr.Warning(str(exc))
            return gr.update(), f"⚠️ {md_text(exc)}"
        return (gr.update(choices=presets.list_presets(self.studio), value=name.strip()),
                f"Preset **{md_text(name)}** saved.")


def _curve(rows: list[dict]):
    """The loss plot's update: hidden until a run has points. A shown plot that is sent an empty table
    keeps its empty drawing and never draws the line of the points that come after."""
    from finetune.summary import curve_frame

    return gr.update(value=curve_frame(rows), visible=True) if rows else gr.update(value=None, visible=False)
