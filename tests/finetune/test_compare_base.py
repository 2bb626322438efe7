""""Compare with its base": both sides registered, held-out prompts, the run's size, one seed per prompt."""
import pytest

from finetune.tracker import MetricWriter, RunTracker


@pytest.fixture
def finished_run(tmp_path):
    from finetune.presets import CPU_BASE_MODEL
    from studio.core import Studio
    from studio.settings import load_settings

    studio = Studio(load_settings(data_dir=tmp_path / "data"))
    result = tmp_path / "run" / "result"
    result.mkdir(parents=True)
    config = {"name": "teal", "task": "text-to-image", "method": "lora", "base_model": str(CPU_BASE_MODEL),
              "resolution": 32, "sample_steps": 5, "sample_guidance_scale": 4.0, "seed": 7, "batch_size": 4,
              "sample_prompts": ["a teal circle", "a teal square", "a red circle"]}
    tracker = RunTracker(studio.db)
    run_id = tracker.create_run(config=config, output_dir=str(tmp_path / "run"), log_path=str(tmp_path / "log"),
                                device="cpu", status="running")
    writer = MetricWriter(studio.db, run_id)
    writer.log(10, {"steps_per_s": 2.0, "loss": 0.1})
    writer.flush(10)
    tracker.update(run_id, status="completed", result_path=str(result))
    yield studio, run_id
    studio.close()


def test_compare_with_base_registers_both_and_plans_a_small_same_seed_batch(finished_run):
    from finetune.compare import create_comparison, plan_comparison
    from studio.annotation.models import ComparisonBatch

    studio, run_id = finished_run
    before = studio.backends.version
    plan = plan_comparison(studio, run_id)
    assert studio.backends.version > before
    assert {plan.adapter, plan.base} <= set(studio.backends.names())
    assert studio.backends.entry(plan.base).options["model"].endswith("tiny-shapes")
    assert (plan.width, plan.height, plan.steps) == (32, 32, 5)
    assert plan.prompts == ["a teal circle", "a teal square", "a red circle"]
    # 3 prompts x 2 sides x 5 steps x 2/3 of a training step, at 2 training steps/s of batch 4
    assert plan.estimate_s == pytest.approx(3 * 2 * 5 * (2 / 3) / (2.0 * 4))
    assert "estimated time" in plan.summary()
    batch_id = create_comparison(studio, plan)
    with studio.db.session() as s:
        gen = s.get(ComparisonBatch, batch_id).config["generation"]
    assert gen["backends"] == [plan.adapter, plan.base] and gen["seed"] == 7
    assert (gen["width"], gen["height"]) == (32, 32)


def test_an_edit_run_is_sent_to_the_annotate_tab(finished_run):
    from finetune.compare import plan_comparison
    from finetune.results import ResultError

    studio, run_id = finished_run
    RunTracker(studio.db).update(run_id, task="edit")
    with pytest.raises(ResultError, match="Annotate tab"):
        plan_comparison(studio, run_id)


@pytest.mark.parametrize("task", ["diffusion-dpo", "winner-sft"])
def test_a_preference_run_is_compared_with_the_same_base(finished_run, task):
    from finetune.compare import plan_comparison

    studio, run_id = finished_run
    RunTracker(studio.db).update(run_id, task=task)
    plan = plan_comparison(studio, run_id)
    assert studio.backends.entry(plan.base).engine == "diffusers-text2image"
    assert studio.backends.entry(plan.base).options["model"].endswith("tiny-shapes")


def test_a_janus_dpo_run_is_compared_with_its_janus_base(finished_run):
    from finetune.compare import base_entry
    from finetune.tracker import RunTracker

    studio, run_id = finished_run
    RunTracker(studio.db).update(run_id, task="janus-dpo")
    assert base_entry(RunTracker(studio.db).get(run_id)).engine == "janus"
