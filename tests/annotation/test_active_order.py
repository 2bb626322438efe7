"""Active ordering of a fixed batch through the vote path: the next item is of the pair the arena's
matchmaking picks from the batch's live votes; off by default; gold items still come at their share;
the annotation package does not import the arena."""
from __future__ import annotations

import ast
from pathlib import Path

from studio.annotation import service, voting
from tests.annotation.helpers import annotate, next_item, stored_image, vote


def _add(studio, batch_id, prompt, a, b, seed):
    return service.add_comparison(studio, batch_id, prompt=prompt, task="text-to-image",
                                  output_a=stored_image(studio, seed), model_a=a,
                                  output_b=stored_image(studio, seed + 1), model_b=b)


def _settled_batch_with_a_newcomer(studio, name, config):
    """Six votes say strong beats weak; then more strong/weak items and, last, two with a newcomer."""
    batch_id = service.create_batch(studio, name, config=config, overlap=20)
    for k in range(6):
        _add(studio, batch_id, f"settled {k}", "strong", "weak", 2 * k + 1)
    for k in range(6):
        view = next_item(studio, batch_id, f"early-{k}")
        vote(studio, view.assignment_id, f"early-{k}", "left" if view.left_image < view.right_image else "right")
    for k in range(4):
        _add(studio, batch_id, f"more {k}", "strong", "weak", 40 + 2 * k)
    _add(studio, batch_id, "newcomer 0", "strong", "newcomer", 60)
    _add(studio, batch_id, "newcomer 1", "newcomer", "weak", 62)
    return batch_id


def test_an_active_batch_offers_the_pair_the_policy_picks_and_the_default_keeps_stored_order(studio):
    active = _settled_batch_with_a_newcomer(studio, "active", {"active_order": True})
    fixed = _settled_batch_with_a_newcomer(studio, "fixed", {})
    for who in ("late-1", "late-2"):
        assert next_item(studio, active, who).prompt.startswith("newcomer")  # no votes yet: widest posterior
        assert next_item(studio, fixed, who).prompt.startswith("more")      # stored order
    assert service.get_batch(studio, active).config == {"active_order": True}


def test_the_policy_gets_the_live_vote_facts_and_its_first_pair_is_offered(studio):
    from studio.annotation.hooks import AnnotationHooks

    calls = []

    def spy(models, score, battles, pending):
        calls.append((list(models), score.copy(), battles.copy(), pending.copy()))
        return [("b", "c"), ("a", "b"), ("a", "c")]

    studio.annotation_hooks = AnnotationHooks(pair_order=spy)
    batch_id = service.create_batch(studio, "spied", config={"active_order": True})
    for k in range(3):
        _add(studio, batch_id, f"ab {k}", "a", "b", 10 * k + 1)
        _add(studio, batch_id, f"cb {k}", "c", "b", 10 * k + 3)
    first = next_item(studio, batch_id, "ann")
    assert first.prompt.startswith("cb")  # the policy's first pair, in the orientation the items have
    vote(studio, first.assignment_id, "ann", "tie")
    second = annotate(studio, "ann", voting.Start(batch_id)).item
    vote(studio, second.assignment_id, "ann", "skip")           # a skip is no battle
    third = annotate(studio, "ann", voting.Start(batch_id)).item
    annotate(studio, "ann", voting.Vote(third.assignment_id, "left"))
    annotate(studio, "ann", voting.Undo(batch_id))         # a withdrawn vote is no battle
    next_item(studio, batch_id, "bob")
    models, score, battles, pending = calls[-1]
    assert models == ["a", "b", "c"]
    assert battles[1, 2] == battles[2, 1] == 1 and battles.sum() == 2  # the tie
    assert score[1, 2] == score[2, 1] == 0.5
    assert pending.sum() == 2 * 1  # ann's open item (after the undo) is being looked at now


def test_gold_items_come_at_their_share_under_active_order(db_url, tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings

    studio = Studio(load_settings(data_dir=tmp_path / "d", database_url=db_url))
    batch_id = service.create_batch(studio, "gold-active", config={"active_order": True})
    for k in range(16):
        _add(studio, batch_id, f"pair {k}", ("x", "y", "z")[k % 3], ("y", "z", "x")[k % 3], 2 * k + 1)
    for k in range(4):  # a quarter of the batch's items show one engine on both sides: gold
        service.add_comparison(studio, batch_id, prompt=f"gold {k}", task="text-to-image",
                               output_a=stored_image(studio, 100 + 2 * k), model_a="x",
                               output_b=stored_image(studio, 101 + 2 * k), model_b="y",
                               provenance={"gold": "model_a"})
    shown = []
    for _ in range(12):
        view = annotate(studio, "ann", voting.Start(batch_id)).item
        shown.append(view.prompt.startswith("gold"))
        vote(studio, view.assignment_id, "ann", "left")
    assert sum(shown) == 2 and not shown[0]  # 1 in 5 of 20 items: spread, not first
    studio.close()


def test_the_annotation_package_does_not_import_the_arena():
    root = Path(__file__).resolve().parents[2] / "studio" / "annotation"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "studio.arena" or n.startswith("studio.arena.") for n in names), path.name
