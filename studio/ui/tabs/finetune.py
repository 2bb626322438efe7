"""Fine-tune tab: configure a run, validate its dataset, launch it as a process, watch and compare runs.

Handlers only call the fine-tuning engine (finetune.launcher / tracker / presets / results); the
training itself runs in its own process, so closing the browser or restarting the UI leaves it alone.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import gradio as gr

from studio.markup import md_text
from studio.ui.context import TabSpec, UIContext

log = logging.getLogger(__name__)

TASK_CHOICES = [("Text-to-image (diffusers UNet)", "text-to-image"),
                ("Editing (InstructPix2Pix: source image as extra input)", "edit"),
                ("Janus text-to-image", "janus-t2i"),
                ("Janus text + image to image (Janus-4o recipe, joint)", "janus-ti2i"),
                ("Diffusion-DPO on preference pairs (text-to-image)", "diffusion-dpo"),
                ("Diffusion-DPO on preference pairs (InstructPix2Pix edits)", "diffusion-dpo-edit"),
                ("Winner SFT on preference pairs (text-to-image)", "winner-sft"),
                ("Winner SFT on preference pairs (InstructPix2Pix edits)", "winner-sft-edit"),
                ("Janus: DPO on image tokens (text-to-image pairs)", "janus-dpo"),
                ("Janus-4o: DPO on image tokens (edit pairs)", "janus-dpo-edit")]
#: form fields in the order the components are created: (config key path, label)
NUMBER_FIELDS = [
    ("lora.rank", "LoRA rank", 4, 0), ("lora.alpha", "LoRA alpha", 4.0, None),
    ("lora.dropout", "LoRA dropout", 0.0, None), ("learning_rate", "Learning rate", 1e-4, None),
    ("lr_warmup_steps", "Warmup steps", 0, 0), ("max_steps", "Max steps (0 = from epochs)", 0, 0),
    ("num_epochs", "Epochs", 1, 0), ("batch_size", "Batch size", 1, 0),
    ("gradient_accumulation_steps", "Gradient accumulation", 1, 0), ("resolution", "Resolution", 512, 0),
    ("seed", "Seed", 0, 0), ("checkpointing_steps", "Checkpoint every N steps", 500, 0),
    ("checkpoints_total_limit", "Checkpoints to keep", 2, 0), ("sample_every", "Sample every N steps (0 = off)", 0, 0),
    ("sample_steps", "Sampling steps", 20, 0), ("prompt_mask_prob", "Janus: prompt masking", 0.1, None),
    ("image_token_mask_prob", "Janus: input-image token masking", 0.5, None),
    ("conditioning_dropout", "Edit: conditioning dropout", 0.05, None),
    ("dataset.validation_split", "Validation split", 0.0, None),
    ("weight_decay", "Weight decay", 0.01, None), ("lr_warmup_ratio", "Warmup (fraction of steps)", 0.0, None),
    ("lr_min_ratio", "Cosine: final LR (fraction of peak)", 0.0, None),
    ("num_processes", "GPUs (processes)", 1, 0),
    ("beta_dpo", "Diffusion-DPO β", 5000.0, None),
]
#: fields that mean something only for some tasks (hidden for the others)
TASK_FIELDS = {"prompt_mask_prob": ("janus-t2i", "janus-ti2i"), "image_token_mask_prob": ("janus-ti2i",),
               "conditioning_dropout": ("edit",)}


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


def build(ctx: UIContext) -> None:
    from finetune.lora import TARGET_PRESETS

    c: dict[str, Any] = {}
    gr.Markdown("Train LoRA adapters or full fine-tunes on studio datasets or imported ShareGPT-4o-Image / "
                "OpenGPT-4o-Image files. Each run is its own process; this page only reads its tracker.")
    with gr.Row():
        with gr.Column(scale=5):
            with gr.Row():
                # presets, base models (server folders) and datasets are filled in for admins on load
                c["preset"] = gr.Dropdown([], label="Preset", value=None, scale=3)
                c["load_preset"] = gr.Button("Load preset", scale=1)
            c["base_model"] = gr.Dropdown([], value=None, allow_custom_value=True,
                                          label="Base model (diffusers folder or hub id; Janus folder)",
                                          elem_id="ft-base-model")
            with gr.Row():
                c["task"] = gr.Dropdown(TASK_CHOICES, value="text-to-image", label="Task")
                c["method"] = gr.Radio([("LoRA", "lora"), ("Full fine-tune", "full")], value="lora", label="Method")
            with gr.Row():
                c["dataset.source"] = gr.Radio([("Studio dataset", "studio"), ("Released-format JSON file", "file"),
                                                ("Preference pairs folder (prefs build)", "preferences")],
                                               value="studio", label="Dataset source")
                c["dataset.name"] = gr.Dropdown([], allow_custom_value=True, value="default",
                                                label="Studio dataset name, or JSON file path",
                                                elem_id="ft-dataset-name")
            c["dataset.skip_invalid"] = gr.Checkbox(False, label="Skip invalid rows")
            c["lora.target_modules"] = gr.Dropdown(["auto", *TARGET_PRESETS], value="auto",
                                                   label="LoRA target modules (preset per architecture)")
            with gr.Accordion("Hyperparameters", open=False):
                with gr.Row():
                    c["lr_scheduler"] = gr.Dropdown(["constant", "constant_with_warmup", "linear", "cosine"],
                                                    value="constant", label="LR schedule")
                    c["mixed_precision"] = gr.Dropdown(["no", "fp16", "bf16"], value="no", label="Mixed precision")
                    c["device"] = gr.Dropdown(["auto", "cpu", "cuda"], value="auto", allow_custom_value=True,
                                              label="Device")
                    c["gradient_checkpointing"] = gr.Checkbox(False, label="Gradient checkpointing", min_width=220,
                                                              elem_id="ft-gradient-checkpointing")
                    c["sharding"] = gr.Dropdown([("none (DDP)", "none"), ("FSDP full shard", "fsdp"),
                                                 ("DeepSpeed ZeRO-2", "zero2")], value="none",
                                                label="Sharding across GPUs")
                with gr.Row(equal_height=True):
                    for key, label, default, precision in NUMBER_FIELDS:
                        c[key] = gr.Number(default, label=label, precision=precision, min_width=140,
                                           elem_id="ft-" + key.replace(".", "-").replace("_", "-"),
                                           visible="text-to-image" in TASK_FIELDS.get(key, ("text-to-image",)))
                c["sample_prompts"] = gr.Textbox(label="Sample prompts (one per line)", lines=3)
            c["name"] = gr.Textbox(label="Run name (optional)", elem_id="ft-run-name")
            with gr.Row():
                c["validate"] = gr.Button("Validate dataset")
                c["launch"] = gr.Button("Launch", variant="primary", elem_id="ft-launch")
            c["report"] = gr.Markdown(elem_id="ft-report")
            c["command"] = gr.Textbox(label="Command (this run, one GPU / several GPUs)", lines=2,
                                      interactive=False, elem_id="ft-command")
            with gr.Row():
                c["preset_name"] = gr.Textbox(label="Save form as preset named", scale=3)
                c["save_preset"] = gr.Button("Save preset", scale=1)
        with gr.Column(scale=6):
            c["runs"] = gr.Dataframe(label="Runs", interactive=False, elem_id="ft-runs", wrap=True)
            c["run"] = gr.Dropdown([], label="Selected run", elem_id="ft-run-select")
            c["status"] = gr.Markdown(elem_id="ft-status")
            with gr.Row():
                c["stop"] = gr.Button("Stop (checkpoint)", elem_id="ft-stop")
                c["resume"] = gr.Button("Resume")
                c["use"] = gr.Button("Use as backend")
                c["load_run"] = gr.Button("Load config into form")
                c["delete"] = gr.Button("Delete run", variant="stop")
            with gr.Row():
                c["compare_base"] = gr.Button("Compare with its base", elem_id="ft-compare-base")
                c["compare_start"] = gr.Button("Start the comparison", variant="primary", visible=False,
                                               elem_id="ft-compare-start")
                c["compare_cancel"] = gr.Button("Cancel the comparison", visible=False, elem_id="ft-compare-cancel")
            c["run_info"] = gr.Markdown(elem_id="ft-run-info")  # what the buttons above did, beside them
            c["compare_batch"] = gr.State(None)
            c["curve"] = gr.LinePlot(x="step", y="value", color="series", label="Loss", elem_id="ft-curve",
                                     height=260)
            c["samples"] = gr.Gallery(label="Samples (step 0 = before training)", columns=4, height=220)
            c["log"] = gr.Textbox(label="Log tail", lines=8, max_lines=12, elem_id="ft-log")
            with gr.Accordion("Compare runs", open=False):
                c["compare_ids"] = gr.Dropdown([], multiselect=True, label="Runs to compare")
                c["compare_note"] = gr.Markdown("Pick two or more runs: their loss curves and settings appear here.")
                c["compare_plot"] = gr.LinePlot(x="step", y="value", color="series", height=260, visible=False)
                c["compare_table"] = gr.Dataframe(interactive=False, visible=False)
    c["timer"] = gr.Timer(2.0)
    ctx.register("finetune.components", c)


def _form_inputs(c: dict[str, Any]) -> list[Any]:
    keys = ["base_model", "task", "method", "dataset.source", "dataset.name", "dataset.skip_invalid",
            "lora.target_modules", "lr_scheduler", "mixed_precision", "device", "gradient_checkpointing",
            "sample_prompts", "name", "sharding"] + [k for k, *_ in NUMBER_FIELDS]
    return keys, [c[k] for k in keys]


def wire(ctx: UIContext, ui: Any = None) -> None:
    from finetune import presets as presets_mod
    from finetune.config import ConfigError
    from finetune.datasets import DatasetError
    from finetune.launcher import LaunchError, Launcher, memory_estimate, multi_gpu_command
    from finetune.results import ResultError, register_completed_runs, register_result
    from finetune.summary import RUN_COLUMNS, compare_rows, curve_frame, curve_rows, run_row, status_text

    studio = ctx.studio
    c = ctx.get("finetune.components")
    launcher = Launcher(studio)
    tracker = launcher.tracker
    keys, inputs = _form_inputs(c)
    try:
        register_completed_runs(studio)
    except Exception:  # a broken result must not keep the studio from starting
        log.exception("could not register finished fine-tune runs as backends")

    def form_to_config(*values) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key, value in zip(keys, values):
            if key == "sample_prompts":
                value = [line.strip() for line in (value or "").splitlines() if line.strip()]
            if value is None:
                continue
            _set(data, key, value)
        if not data.get("sample_prompts"):
            data["sample_every"] = 0
        return data

    def config_to_form(data: dict[str, Any]) -> list[Any]:
        out = []
        for key in keys:
            value = _get(data, key, gr.update())
            if key == "sample_prompts" and isinstance(value, list):
                value = "\n".join(value)
            out.append(value)
        return out

    def confined_config(*values) -> dict[str, Any]:
        """The form as a config; a released-format file or a pairs folder must lie in a folder the server may read."""
        from studio.serverpaths import confine

        data = form_to_config(*values)
        dataset = data.get("dataset") or {}
        if dataset.get("source") in ("file", "preferences"):
            dataset["name"] = str(confine(studio.settings, dataset.get("name") or ""))
        return data

    def validate(*values):
        from studio.serverpaths import ServerPathRefused

        try:
            config, report = launcher.validate(confined_config(*values))
        except (ConfigError, DatasetError, ServerPathRefused) as exc:
            return f"⚠️ {md_text(exc)}"
        ok = report.launchable(config.dataset.skip_invalid)
        memory = memory_estimate(config)
        return (("✅ ready to launch\n\n" if ok else "❌ not launchable\n\n") + report.to_markdown()
                + (f"\n\n{memory}" if memory else ""))

    def launch(*values):
        try:
            run_id = launcher.submit(confined_config(*values))
        except (ConfigError, DatasetError, LaunchError, ValueError) as exc:
            gr.Warning(str(exc).splitlines()[0])
            return f"⚠️ {md_text(exc)}", gr.update(), gr.update()
        run = tracker.get(run_id)
        cfg_path = f"{run.output_dir}/config.yaml"
        cmd = run.command + "\n" + multi_gpu_command(cfg_path)
        choices = [(f"{r.name} · {r.status}", r.id) for r in tracker.list_runs()]
        return f"Launched **{md_text(run.name)}** ({run.status}).", cmd, gr.update(choices=choices, value=run_id)

    def refresh(selected):
        launcher.reconcile()
        runs = tracker.list_runs()
        import pandas as pd

        table = pd.DataFrame([run_row(r) for r in runs], columns=RUN_COLUMNS)
        choices = [(f"{r.name} · {r.status}", r.id) for r in runs]
        run = tracker.get(selected) if selected else None
        if run is None:  # none selected, or the selected run was deleted meanwhile
            # clear the choice only when the selected run is gone: a tick that began before a launch
            # selected the new run must not take that selection back
            return (table, gr.update(choices=choices, value=None) if selected else gr.update(choices=choices),
                    "Select a run in the list to see its loss curve, samples and log.", curve_frame([]), [], "")
        curve = curve_frame(curve_rows(tracker, [run]))
        gallery = [(path, f"step {step}: {prompt}") for step, prompt, path in tracker.samples(run.id)]
        # as many lines as the box shows, so it opens on the latest rather than on the set-up lines
        return (table, gr.update(choices=choices), status_text(run), curve, gallery,
                launcher.log_tail(run.id, 12))

    def fill_lists():
        from finetune.presets import CPU_BASE_MODEL

        options = [studio.backends.entry(n).options.get("model") for n in studio.backends.names()]
        bases = [str(CPU_BASE_MODEL)] + sorted({str(m) for m in options if m})
        return (gr.update(choices=presets_mod.list_presets(studio)), gr.update(choices=bases, value=bases[0]),
                gr.update(choices=studio.samples.datasets()))

    gr.context.Context.root_block.load(ctx.guard("finetune", fill_lists), None,
                                       [c["preset"], c["base_model"], c["dataset.name"]], api_visibility="private")

    refresh_outputs = [c["runs"], c["run"], c["status"], c["curve"], c["samples"], c["log"]]
    refresh = ctx.guard("finetune", refresh)
    c["timer"].tick(refresh, [c["run"]], refresh_outputs, show_progress="hidden")
    c["run"].change(refresh, [c["run"]], refresh_outputs, show_progress="hidden")
    def task_fields(task):
        return [gr.update(visible=task in tasks) for tasks in TASK_FIELDS.values()]

    c["task"].change(ctx.guard("finetune", task_fields), [c["task"]], [c[k] for k in TASK_FIELDS],
                     show_progress="hidden", api_visibility="private")
    c["validate"].click(ctx.guard("finetune", validate), inputs, c["report"], api_name="finetune_validate")
    c["launch"].click(ctx.guard("finetune", launch), inputs, [c["report"], c["command"], c["run"]], api_name="finetune_launch")

    def act(action, run_id):
        if not run_id:
            gr.Warning("select a run first")
            return gr.update()
        try:
            if action == "stop":
                return f"Run {launcher.stop(run_id)}."
            if action == "resume":
                return f"Run {launcher.resume(run_id)}: it continues from its latest checkpoint."
            if action == "delete":
                launcher.delete(run_id)
                return "Run deleted with its files."
            if action == "use":
                name = register_result(studio, run_id)
                return f"✅ Backend **{md_text(name)}** added: every tab lists it now (it renders at its training size)."
        except (LaunchError, ResultError) as exc:
            gr.Warning(str(exc))
            return f"⚠️ {md_text(exc)}"
        return gr.update()

    for action in ("stop", "resume", "delete", "use"):
        c[action].click(ctx.guard("finetune", lambda run_id, a=action: act(a, run_id)), [c["run"]], c["run_info"],
                        api_name=f"finetune_{action}")

    def compare_plan(run_id):
        """Register the result and its base, and say what the comparison would make and how long it takes."""
        from finetune.compare import plan_comparison

        if not run_id:
            return "Select a finished run first.", gr.update(visible=False)
        try:
            plan = plan_comparison(studio, run_id)
        except (ResultError, ValueError) as exc:
            return f"⚠️ {md_text(exc)}", gr.update(visible=False)
        return (f"Ready: {md_text(plan.summary())}. Press **Start the comparison** to make the blind batch; "
                "you can cancel and resume it later.", gr.update(visible=True))

    def compare_start(run_id):
        from finetune.compare import create_comparison, plan_comparison
        from studio.annotation import AnnotationError, generation

        try:
            plan = plan_comparison(studio, run_id)
            batch_id = create_comparison(studio, plan)
        except (ResultError, AnnotationError, ValueError) as exc:
            yield f"⚠️ {md_text(exc)}", gr.update(), gr.update(), None
            return
        job = generation.start_job(studio, batch_id)
        while job.running:
            yield (f"Comparison batch made: {md_text(job.text())}", gr.update(visible=False),
                   gr.update(visible=True), batch_id)
            time.sleep(0.5)
        yield (f"Comparison batch {md_text(job.text())}. Vote on it in the **Annotate** tab (pick the batch "
               "named after the run); its results are under Results.", gr.update(visible=False),
               gr.update(visible=False), batch_id)

    def compare_cancel(batch_id):
        from studio.annotation import generation

        job = generation.cancel_job(studio, batch_id) if batch_id else None
        return ("Cancelling; what is made is kept, and Resume in the Annotate tab makes the rest."
                if job else "No comparison is running.")

    c["compare_base"].click(ctx.guard("finetune", compare_plan), [c["run"]], [c["run_info"], c["compare_start"]],
                            api_name="finetune_compare_plan")
    c["compare_start"].click(ctx.guard("annotate_generate", compare_start), [c["run"]],
                             [c["run_info"], c["compare_start"], c["compare_cancel"], c["compare_batch"]],
                             api_name="finetune_compare_start")
    c["compare_cancel"].click(ctx.guard("annotate_admin", compare_cancel), [c["compare_batch"]], [c["run_info"]],
                              api_name="finetune_compare_cancel")

    def load_preset(name):
        if not name:
            gr.Warning("pick a preset first")
            return [gr.update()] * (len(keys) + 1)
        try:
            form = config_to_form(presets_mod.load_preset(studio, name))
        except presets_mod.PresetError as exc:
            gr.Warning(str(exc))
            return [gr.update()] * (len(keys) + 1)
        note = presets_mod.PRESET_NOTES.get(name)
        return form + [f"**{name}**: {note}" if note else gr.update()]

    def save_preset(name, *values):
        try:
            presets_mod.save_preset(studio, name or "", form_to_config(*values))
        except presets_mod.PresetError as exc:
            gr.Warning(str(exc))
            return gr.update(), f"⚠️ {md_text(exc)}"
        return gr.update(choices=presets_mod.list_presets(studio), value=name.strip()), f"Preset **{md_text(name)}** saved."

    def load_run(run_id):
        run = tracker.get(run_id) if run_id else None
        if run is None:
            gr.Warning("select a run first")
            return [gr.update()] * len(keys)
        return config_to_form(run.config)

    c["load_preset"].click(ctx.guard("finetune", load_preset), [c["preset"]], [*inputs, c["report"]],
                           api_name="finetune_load_preset")
    c["save_preset"].click(ctx.guard("finetune", save_preset), [c["preset_name"], *inputs], [c["preset"], c["report"]],
                           api_name="finetune_save_preset")
    c["load_run"].click(ctx.guard("finetune", load_run), [c["run"]], inputs)

    def compare(ids):
        import pandas as pd

        runs = [r for r in (tracker.get(i) for i in ids or []) if r is not None]
        header, rows = compare_rows(tracker, runs)
        curve = curve_frame(curve_rows(tracker, runs))
        shown = bool(runs)
        return (gr.update(value=curve, visible=shown), gr.update(value=pd.DataFrame(rows, columns=header), visible=shown),
                "" if shown else "Pick two or more runs: their loss curves and settings appear here.")

    c["compare_ids"].change(ctx.guard("finetune", compare), [c["compare_ids"]],
                            [c["compare_plot"], c["compare_table"], c["compare_note"]])
    c["compare_ids"].focus(ctx.guard("finetune", lambda: gr.update(choices=[(f"{r.name} · {r.status}", r.id) for r in tracker.list_runs()]),
                           ), None, c["compare_ids"], show_progress="hidden")


TAB = TabSpec(id="finetune", title="Fine-tune", order=60, build=build, wire=wire)
