"""The Fine-tune tab's "Preference pairs from a comparison batch" panel through gradio_client:
preview, build, the dataset field pointing at the built folder, refusals, and the admin role."""
from __future__ import annotations

import json

import pytest
from gradio_client import Client

from studio.annotation import service
from tests.annotation import helpers
from tests.annotation.helpers import make_batch
from tests.finetune.test_ui_client import form
from tests.support.live_app import launched_app

USERS = "ann:ann-pw,boss:boss-pw:admin"


def _vote_all(studio, batch_id, choices):
    """One annotator votes on every item: ``choices[prompt]`` is "a", "b" or "tie" (by the items' own sides)."""
    out_a = {i["prompt"]: i["output_a"] for i in service.batch_items(studio, batch_id)}
    while (view := helpers.next_item(studio, batch_id, "voter")) is not None:
        a_left = view.left_image == out_a[view.prompt]
        want = choices[view.prompt]
        choice = {"a": "left" if a_left else "right", "b": "right" if a_left else "left", "tie": "tie"}[want]
        helpers.vote(studio, view.assignment_id, "voter", choice)


def _judge_prefers_b(studio, batch_id):
    from studio.judges.models import JudgeVerdict

    with studio.db.session() as s:
        for item in service.batch_items(studio, batch_id):
            s.add(JudgeVerdict(batch_id=batch_id, item_id=item["id"], judge="vlm", criterion="overall",
                               status="ok", winner="model_b", consistent=True))


def _plain(markdown: str) -> str:
    return markdown.replace("\\", "")


@pytest.fixture
def app(tmp_path):
    with launched_app(tmp_path / "data", auth_mode="password", users=USERS) as (url, studio):
        yield url, studio


def test_preview_build_and_train_on_a_batchs_votes(app, tiny_pipeline):
    url, studio = app
    batch_id, _ = make_batch(studio, "voted", 10)
    _vote_all(studio, batch_id, {f"prompt {i}": "tie" if i == 9 else "a" for i in range(10)})
    _judge_prefers_b(studio, batch_id)
    few_id, _ = make_batch(studio, "few", 3)
    _vote_all(studio, few_id, {f"prompt {i}": "a" for i in range(3)})
    admin = Client(url, verbose=False, auth=("boss", "boss-pw"))
    folder = studio.settings.data_dir / "preferences" / "voted-human"

    report, nodes = admin.predict(batch_id, "human", False, api_name="/finetune_prefs_preview")
    assert "9 decided pairs" in report and "1 ties/both-bad" in report
    # make_batch puts odd prompts under gen/objects, even ones under gen/text; prompt 9 is a tie
    assert sorted(map(tuple, nodes["data"])) == [("gen/objects", 4), ("gen/text", 5)]
    assert not folder.exists()  # a preview writes nothing
    report, _ = admin.predict(batch_id, "judge:vlm", False, api_name="/finetune_prefs_preview")
    assert "10 decided pairs" in report

    report, nodes, source, name = admin.predict(batch_id, "human", False, api_name="/finetune_prefs_build")
    rows = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == 9 and all((folder / r["jpg_0"]).is_file() and (folder / r["jpg_1"]).is_file() for r in rows)
    assert "Wrote 9 rows" in report
    assert (source, name) == ("preferences", str(folder))  # the dataset fields Launch reads
    checked = admin.predict(*form(tiny_pipeline, name, task="diffusion-dpo", **{"dataset.source": source}),
                            api_name="/finetune_validate")
    assert "ready to launch" in checked and "9 of 9 rows usable" in checked

    for batch, source, says in ((None, "human", "Pick a comparison batch"),
                                (few_id, "human", "only 3 decisive usable pairs"),
                                (batch_id, "judge:nobody", "judges that voted: vlm"),
                                ("no-such-batch", "human", "no comparison batch")):
        report, *_ = admin.predict(batch, source, False, api_name="/finetune_prefs_build")
        assert says in _plain(report), (batch, source, report)
    assert not (studio.settings.data_dir / "preferences" / "few-human").exists()

    annotator = Client(url, verbose=False, auth=("ann", "ann-pw"))
    with pytest.raises(Exception, match="needs the admin role"):
        annotator.predict(batch_id, "judge:vlm", False, api_name="/finetune_prefs_build")
    assert not (studio.settings.data_dir / "preferences" / "voted-judge_vlm").exists()
