"""Fine-tune tab: configure a run, validate its dataset, launch it as a process, watch and compare runs.

The handlers are :class:`studio.ui.controllers.finetune.FinetuneController`'s methods; they only call
the fine-tuning engine (finetune.launcher / tracker / presets / results / compare). The training itself
runs in its own process, so closing the browser or restarting the UI leaves it alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.ui.context import TabSpec, UIContext
from studio.ui.finetune_prefs import PrefsUI, build_panel, wire_panel

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
    ("beta_dpo", "DPO β (Diffusion-DPO: 5000; Janus image tokens: 0.1)", 5000.0, None),
    ("proportion_empty_prompts", "Text-to-image: share of prompts left empty (Diffusion-DPO: 0.2)", 0.0, None),
]
#: fields that mean something only for some tasks (hidden for the others)
TASK_FIELDS = {"prompt_mask_prob": ("janus-t2i", "janus-ti2i"), "image_token_mask_prob": ("janus-ti2i",),
               "conditioning_dropout": ("edit",), "beta_dpo": ("diffusion-dpo", "diffusion-dpo-edit",
                                                                 "janus-dpo", "janus-dpo-edit"),
               "proportion_empty_prompts": ("text-to-image", "diffusion-dpo", "winner-sft")}


#: the form's fields in the order the handlers receive them (config key paths; see FinetuneUI.form)
FORM_KEYS = ["base_model", "task", "method", "dataset.source", "dataset.name", "dataset.skip_invalid",
             "lora.target_modules", "lr_scheduler", "mixed_precision", "device", "gradient_checkpointing",
             "sample_prompts", "name", "sharding"] + [k for k, *_ in NUMBER_FIELDS]


@dataclass
class FinetuneUI:
    preset: gr.Dropdown
    load_preset: gr.Button
    #: config key path -> its field, for every key of FORM_KEYS
    form: dict[str, gr.components.Component]
    validate: gr.Button
    launch: gr.Button
    report: gr.Markdown
    command: gr.Textbox
    preset_name: gr.Textbox
    save_preset: gr.Button
    runs: gr.Dataframe
    run: gr.Dropdown
    status: gr.Markdown
    stop: gr.Button
    resume: gr.Button
    use: gr.Button
    load_run: gr.Button
    delete: gr.Button
    compare_base: gr.Button
    compare_start: gr.Button
    compare_cancel: gr.Button
    run_info: gr.Markdown
    compare_batch: gr.State
    curve: gr.LinePlot
    samples: gr.Gallery
    log: gr.Textbox
    compare_ids: gr.Dropdown
    compare_note: gr.Markdown
    compare_plot: gr.LinePlot
    compare_table: gr.Dataframe
    timer: gr.Timer
    #: builds a preference-pairs folder from a batch's votes and selects it as the dataset
    prefs: PrefsUI

    def form_inputs(self) -> list[gr.components.Component]:
        return [self.form[key] for key in FORM_KEYS]


def build(ctx: UIContext) -> FinetuneUI:
    from finetune.lora import TARGET_PRESETS

    f: dict[str, gr.components.Component] = {}
    gr.Markdown("Train LoRA adapters or full fine-tunes on studio datasets or imported ShareGPT-4o-Image / "
                "OpenGPT-4o-Image files. Each run is its own process; this page only reads its tracker.")
    with gr.Row():
        with gr.Column(scale=5):
            with gr.Row():
                # presets, base models (server folders) and datasets are filled in for admins on load
                preset = gr.Dropdown([], label="Preset", value=None, scale=3)
                load_preset = gr.Button("Load preset", scale=1)
            f["base_model"] = gr.Dropdown([], value=None, allow_custom_value=True,
                                          label="Base model (diffusers folder or hub id; Janus folder)",
                                          elem_id="ft-base-model")
            with gr.Row():
                f["task"] = gr.Dropdown(TASK_CHOICES, value="text-to-image", label="Task")
                f["method"] = gr.Radio([("LoRA", "lora"), ("Full fine-tune", "full")], value="lora", label="Method")
            with gr.Row():
                f["dataset.source"] = gr.Radio([("Studio dataset", "studio"), ("Released-format JSON file", "file"),
                                                ("Preference pairs folder (prefs build)", "preferences")],
                                               value="studio", label="Dataset source")
                f["dataset.name"] = gr.Dropdown([], allow_custom_value=True, value="default",
                                                label="Studio dataset name, or JSON file path",
                                                elem_id="ft-dataset-name")
            f["dataset.skip_invalid"] = gr.Checkbox(False, label="Skip invalid rows")
            prefs = build_panel()
            f["lora.target_modules"] = gr.Dropdown(["auto", *TARGET_PRESETS], value="auto",
                                                   label="LoRA target modules (preset per architecture)")
            with gr.Accordion("Hyperparameters", open=False):
                with gr.Row():
                    f["lr_scheduler"] = gr.Dropdown(["constant", "constant_with_warmup", "linear", "cosine"],
                                                    value="constant", label="LR schedule")
                    f["mixed_precision"] = gr.Dropdown(["no", "fp16", "bf16"], value="no", label="Mixed precision")
                    f["device"] = gr.Dropdown(["auto", "cpu", "cuda"], value="auto", allow_custom_value=True,
                                              label="Device")
                # a row of its own: squeezed beside three dropdowns the checkbox's label was cut off
                with gr.Row(equal_height=True):
                    f["gradient_checkpointing"] = gr.Checkbox(False, label="Gradient checkpointing", min_width=220,
                                                              elem_id="ft-gradient-checkpointing")
                    f["sharding"] = gr.Dropdown([("none (DDP)", "none"), ("FSDP full shard", "fsdp"),
                                                 ("DeepSpeed ZeRO-2", "zero2")], value="none",
                                                label="Sharding across GPUs")
                with gr.Row(equal_height=True):
                    for key, label, default, precision in NUMBER_FIELDS:
                        f[key] = gr.Number(default, label=label, precision=precision, min_width=140,
                                           elem_id="ft-" + key.replace(".", "-").replace("_", "-"),
                                           visible="text-to-image" in TASK_FIELDS.get(key, ("text-to-image",)))
                f["sample_prompts"] = gr.Textbox(label="Sample prompts (one per line)", lines=3)
            f["name"] = gr.Textbox(label="Run name (optional)", elem_id="ft-run-name")
            with gr.Row():
                validate = gr.Button("Validate dataset")
                launch = gr.Button("Launch", variant="primary", elem_id="ft-launch")
            report = gr.Markdown(elem_id="ft-report")
            command = gr.Textbox(label="Command (this run, one GPU / several GPUs)", lines=2,
                                 interactive=False, elem_id="ft-command")
            with gr.Row():
                preset_name = gr.Textbox(label="Save form as preset named", scale=3)
                save_preset = gr.Button("Save preset", scale=1)
        with gr.Column(scale=6):
            runs = gr.Dataframe(label="Runs", interactive=False, elem_id="ft-runs", wrap=True)
            run = gr.Dropdown([], label="Selected run", elem_id="ft-run-select")
            status = gr.Markdown(elem_id="ft-status")
            with gr.Row():
                stop = gr.Button("Stop (checkpoint)", elem_id="ft-stop")
                resume = gr.Button("Resume")
                use = gr.Button("Use as backend")
                load_run = gr.Button("Load config into form")
                delete = gr.Button("Delete run", variant="stop")
            with gr.Row():
                compare_base = gr.Button("Compare with its base", elem_id="ft-compare-base")
                compare_start = gr.Button("Start the comparison", variant="primary", visible=False,
                                          elem_id="ft-compare-start")
                compare_cancel = gr.Button("Cancel the comparison", visible=False, elem_id="ft-compare-cancel")
            run_info = gr.Markdown(elem_id="ft-run-info")  # what the buttons above did, beside them
            compare_batch = gr.State(None)
            curve = gr.LinePlot(x="step", y="value", color="series", label="Loss", elem_id="ft-curve", height=260,
                                visible=False)  # shown once the selected run has points
            samples = gr.Gallery(label="Samples (step 0 = before training)", columns=4, height=220)
            log = gr.Textbox(label="Log tail", lines=8, max_lines=12, elem_id="ft-log")
            with gr.Accordion("Compare runs", open=False):
                compare_ids = gr.Dropdown([], multiselect=True, label="Runs to compare")
                compare_note = gr.Markdown("Pick two or more runs: their loss curves and settings appear here.")
                compare_plot = gr.LinePlot(x="step", y="value", color="series", height=260, visible=False)
                compare_table = gr.Dataframe(interactive=False, visible=False)
    return FinetuneUI(
        preset=preset, load_preset=load_preset, form=f, validate=validate, launch=launch, report=report,
        command=command, preset_name=preset_name, save_preset=save_preset, runs=runs, run=run, status=status,
        stop=stop, resume=resume, use=use, load_run=load_run, delete=delete, compare_base=compare_base,
        compare_start=compare_start, compare_cancel=compare_cancel, run_info=run_info, compare_batch=compare_batch,
        curve=curve, samples=samples, log=log, compare_ids=compare_ids, compare_note=compare_note,
        compare_plot=compare_plot, compare_table=compare_table, timer=gr.Timer(2.0), prefs=prefs)


def wire(ctx: UIContext, ui: FinetuneUI) -> None:
    from studio.ui.controllers.finetune import FinetuneController

    ctrl = FinetuneController(ctx.studio, FORM_KEYS, TASK_FIELDS)
    ctrl.register_finished_runs()
    form = ui.form_inputs()
    ctx.demo.load(ctx.guard("finetune", ctrl.fill_lists), None,
                  [ui.preset, ui.form["base_model"], ui.form["dataset.name"]],
                  api_visibility="private")
    wire_panel(ctx, ui.prefs, ui.form["dataset.source"], ui.form["dataset.name"])

    shown = [ui.runs, ui.run, ui.status, ui.curve, ui.samples, ui.log]
    refresh = ctx.guard("finetune", ctrl.refresh)
    ui.timer.tick(refresh, [ui.run], shown, show_progress="hidden")
    ui.run.change(refresh, [ui.run], shown, show_progress="hidden")
    ui.form["task"].change(ctx.guard("finetune", ctrl.task_fields), [ui.form["task"]],
                           [ui.form[k] for k in TASK_FIELDS], show_progress="hidden", api_visibility="private")
    ui.validate.click(ctx.guard("finetune", ctrl.validate), form, ui.report, api_name="finetune_validate")
    ui.launch.click(ctx.guard("finetune", ctrl.launch), form, [ui.report, ui.command, ui.run],
                    api_name="finetune_launch")

    for button, method, api in ((ui.stop, ctrl.stop, "stop"), (ui.resume, ctrl.resume, "resume"),
                                (ui.delete, ctrl.delete, "delete"), (ui.use, ctrl.use_as_backend, "use")):
        button.click(ctx.guard("finetune", method), [ui.run], ui.run_info, api_name=f"finetune_{api}")

    ui.compare_base.click(ctx.guard("finetune", ctrl.plan_comparison), [ui.run], [ui.run_info, ui.compare_start],
                          api_name="finetune_compare_plan")
    ui.compare_start.click(ctx.guard("annotate_generate", ctrl.start_comparison), [ui.run],
                           [ui.run_info, ui.compare_start, ui.compare_cancel, ui.compare_batch],
                           api_name="finetune_compare_start")
    ui.compare_cancel.click(ctx.guard("annotate_admin", ctrl.cancel_comparison), [ui.compare_batch], [ui.run_info],
                            api_name="finetune_compare_cancel")

    ui.load_preset.click(ctx.guard("finetune", ctrl.load_preset), [ui.preset], [*form, ui.report],
                         api_name="finetune_load_preset")
    ui.save_preset.click(ctx.guard("finetune", ctrl.save_preset), [ui.preset_name, *form], [ui.preset, ui.report],
                         api_name="finetune_save_preset")
    ui.load_run.click(ctx.guard("finetune", ctrl.load_run), [ui.run], form)

    ui.compare_ids.change(ctx.guard("finetune", ctrl.compare_runs), [ui.compare_ids],
                          [ui.compare_plot, ui.compare_table, ui.compare_note], api_name="compare")
    ui.compare_ids.focus(ctx.guard("finetune", ctrl.run_choices), None, ui.compare_ids, show_progress="hidden")


TAB = TabSpec(id="finetune", title="Fine-tune", order=60, build=build, wire=wire)
