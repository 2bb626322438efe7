"""The Fine-tune tab's handlers through gradio_client against the real app (no training started)."""
from __future__ import annotations

from gradio_client import Client

from studio.ui.tabs.finetune import NUMBER_FIELDS
from tests.finetune.conftest import write_color_dataset


def form(base_model, dataset, **over):
    """Form values in the order of the tab's inputs (see studio.ui.tabs.finetune.FORM_KEYS)."""
    values = {"base_model": str(base_model), "task": "text-to-image", "method": "lora", "dataset.source": "file",
              "dataset.name": str(dataset), "dataset.skip_invalid": False, "lora.target_modules": "auto",
              "lr_scheduler": "constant", "mixed_precision": "no", "device": "cpu",
              "gradient_checkpointing": False, "sample_prompts": "", "name": "client", "sharding": "none"}
    values.update({k: d for k, _, d, _ in NUMBER_FIELDS})
    values.update({"resolution": 16, "max_steps": 2, **over})
    keys = list(values)[:14] + [k for k, *_ in NUMBER_FIELDS]
    return [values[k] for k in keys]


def test_validate_refuse_and_presets_through_the_api(live_app, tiny_pipeline, tmp_path):
    url, studio = live_app
    client = Client(url, verbose=False)
    outside = write_color_dataset(tmp_path / "d", edit=False)
    report = client.predict(*form(tiny_pipeline, outside), api_name="/finetune_validate")
    assert "STUDIO_SERVER_READ_DIRS" in report.replace("\\", "") and "ready" not in report  # allowed folders only
    data = write_color_dataset(studio.settings.data_dir / "d", edit=False,
                               extra=[{"input_prompt": "", "output_image": "out0.png"}])
    report = client.predict(*form(tiny_pipeline, data), api_name="/finetune_validate")
    assert "not launchable" in report and "4 of 5 rows usable" in report and "empty prompt" in report
    report = client.predict(*form(tiny_pipeline, data, **{"dataset.skip_invalid": True}),
                            api_name="/finetune_validate")
    assert "ready to launch" in report

    result = client.predict(*form(tiny_pipeline, data), api_name="/finetune_launch")
    assert "dataset has problems" in result[0]
    result = client.predict(*form(tiny_pipeline, data, **{"lora.rank": 0}), api_name="/finetune_launch")
    assert "lora.rank" in result[0]
    from finetune.tracker import RunTracker

    assert RunTracker(studio.db).list_runs() == []  # nothing launched, nothing half-made

    client.predict("mine", *form(tiny_pipeline, data, **{"lora.rank": 12}), api_name="/finetune_save_preset")
    loaded = client.predict("mine", api_name="/finetune_load_preset")
    assert loaded[14] == 12  # lora.rank, the first number field
