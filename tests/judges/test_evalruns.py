"""Evaluation runs: scores per backend and node, resume after a stop with no duplicate, retry failed."""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select

from studio.judges import JudgeError, promptsets
from studio.judges.evalruns import EvalRequest, create_run, retry_failed, run_eval, run_summary
from studio.judges.models import EvalItem
from tests.support.openai_server import sent_images


def test_scene_graph_run_on_geneval_templates_scores_every_item(judge_studio):
    prompts = promptsets.from_geneval_templates(12, seed=2)
    create_run(judge_studio, EvalRequest("sg", ["painter"], "scene-graph", "geneval", prompts, 160, 160))
    out = run_eval(judge_studio, "sg", concurrency=2)
    assert out["status"] == "done" and out["counts"] == {"ok": 12}
    assert out["aggregates"]["by_model"]["painter"]["overall"]["mean"] == 1.0
    assert set(out["aggregates"]["by_taxonomy"]) == {f"geneval/{t}" for t in
                                                     ("single_object", "two_object", "counting", "colors",
                                                      "position", "color_attr")}
    items = run_summary(judge_studio, "sg", items=True)["items"]
    assert all(i["image"] and i["reasoning"] == "all clauses hold" for i in items)
    stored = judge_studio.images.open(items[0]["image"])
    assert "scene_graph" in stored.info  # the judged image keeps what it was judged on


def test_stopped_run_resumes_without_duplicates_and_counts_judge_cost(judge_db_studio, stub):
    judge_studio = judge_db_studio
    prompts = promptsets.from_geneval_templates(8, seed=0)
    create_run(judge_studio, EvalRequest("vlm-run", ["painter"], "vlm", "t2i", prompts, 64, 64))
    stop = threading.Event()
    first = run_eval(judge_studio, "vlm-run", concurrency=1, cancel=stop,
                     progress=lambda done, total: stop.set() if done >= 3 else None)
    assert first["status"] == "interrupted" and first["counts"] == {"ok": 3, "pending": 5}
    second = run_eval(judge_studio, "vlm-run", concurrency=3)
    assert second["status"] == "done" and second["counts"] == {"ok": 8}
    assert len(stub.requests) == 8  # each item judged once
    with judge_studio.db.session() as s:
        assert s.scalar(select(func.count()).select_from(EvalItem)) == 8
    assert second["usage"]["calls"] == 8 and second["usage"]["cost_usd"] > 0


def test_failed_items_are_kept_and_retry_failed_picks_them_up(judge_db_studio, stub):
    judge_studio = judge_db_studio
    prompts = promptsets.from_geneval_templates(3, seed=0)
    create_run(judge_studio, EvalRequest("flaky", ["painter"], "vlm", "t2i", prompts, 64, 64))
    for _ in range(3):
        stub.enqueue(status=500)
    out = run_eval(judge_studio, "flaky", concurrency=1)
    assert out["status"] == "failed" and out["counts"] == {"failed": 1, "ok": 2}
    assert retry_failed(judge_studio, "flaky") == 1
    assert run_eval(judge_studio, "flaky")["counts"] == {"ok": 3}


def test_edit_instructions_with_sources_through_the_cli(cli, judge_studio, stub, tmp_path, capsys):
    from backends.base import GenerationRequest
    from backends.procedural import ProceduralBackend

    src = ProceduralBackend(name="p").generate(GenerationRequest(prompt="a red car", width=96, height=96))
    from studio.images import encode_png

    (tmp_path / "car.png").write_bytes(encode_png(src.image, {"scene_graph": src.scene_graph}))
    rows = [{"instruction": "make the car blue", "source_image": "car.png", "taxonomy_id": "edit/color"},
            {"instruction": "add a dog", "source_image": "car.png", "taxonomy_id": "edit/add"}]
    (tmp_path / "edits.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["eval", "run", "edits", "--backend", "painter", "--judge", "vlm", "--rubric", "edit",
            "--prompts", str(tmp_path / "edits.jsonl"), "--json", "--items"]
    assert cli(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"] == {"ok": 2} and set(out["aggregates"]["by_taxonomy"]) == {"edit/color", "edit/add"}
    assert all(len(sent_images(body)) == 2 for _, body in stub.requests)  # source, then output
    assert cli(["eval", "run", "edits", "--json"]) == 0  # resume: nothing left to do
    assert len(stub.requests) == 2
    assert cli(args) == 2 and "exists" in capsys.readouterr().err


def test_runs_are_refused_before_any_work(judge_studio, stub, tmp_path):
    prompts = promptsets.from_geneval_templates(2)
    with pytest.raises(JudgeError, match="cannot score the rubric 'edit'"):
        create_run(judge_studio, EvalRequest("x", ["painter"], "scene-graph", "edit", prompts))
    with pytest.raises(JudgeError, match="cannot make images from text"):
        create_run(judge_studio, EvalRequest("x", ["vlm"], "scene-graph", "geneval", prompts))
    with pytest.raises(JudgeError, match="text-only"):
        create_run(judge_studio, EvalRequest("x", ["painter"], "text-only", "t2i", prompts))
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a", "include": [{"class": "cat"}]}\n')
    with pytest.raises(JudgeError, match="line 1: clause 0 needs a positive integer 'count'"):
        promptsets.from_geneval_file(tmp_path / "bad.jsonl")
    assert stub.requests == []
