"""Preference pairs from a comparison batch's votes: one entry point, :func:`build_preferences`.

The votes come from people, from a judge (its verdicts, kept in the judges' own table), or both,
as the caller names it. Per comparison (prompt, output A, output B, source image for edits) the
votes of the chosen source are counted: the side with more votes wins, with weight = the winner's
share of the votes (the agreement); a split is contested and left out; a comparison with at least as
many tie and both-bad votes as decided ones is a tie (left out, or kept as a 0.5/0.5 Pick-a-Pic row
when asked).
"""
from __future__ import annotations

import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from studio.annotation.models import ComparisonItem, PairwiseVote
from finetune.preference_data import too_few_decisive
from studio.annotation.service import get_batch, live_votes, resolve_batch
from studio.preferences.pickapic import Pair, write_pairs

#: how a source is named: "human", "judge:<name>", "both:<name>" ("both" alone when one judge voted)
SOURCE_HELP = "human | judge:<name> | both[:<name>]"


class PreferenceError(ValueError):
    """The build cannot be done as asked; the message says what to change."""


@dataclass(frozen=True)
class Vote:
    item_id: str
    annotator: str
    #: model_a | model_b | tie | tie (bothbad) | skip
    winner: str


@dataclass
class BuildResult:
    pairs: list[Pair] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    #: decided pairs per taxonomy node ("(none)" for comparisons without one)
    by_taxonomy: Counter = field(default_factory=Counter)

    def preview_markdown(self) -> str:
        lines = [self.summary_markdown()]
        if self.by_taxonomy:
            lines += ["", "| taxonomy node | pairs |", "|---|---|"]
            lines += [f"| {node} | {n} |" for node, n in self.by_taxonomy.most_common()]
        return "\n".join(lines)

    def summary_markdown(self) -> str:
        """The counts alone (numbers only, so it is safe to show as Markdown)."""
        c = self.counts
        lines = [f"**{c['pairs']} decided pairs** from {c['comparisons']} comparisons "
                 f"({c['votes']} votes).",
                 f"Left out: {c['ties']} ties/both-bad, {c['contested']} split votes, "
                 f"{c['unvoted']} without votes, {c['missing_images']} with missing images."]
        if c["tie_rows"]:
            lines.append(f"{c['tie_rows']} tie rows kept (label 0.5; the trainers skip them).")
        return "\n".join(lines)


def _human_votes(studio, batch_id: str) -> list[Vote]:
    with studio.db.session() as s:
        rows = s.execute(select(PairwiseVote.item_id, PairwiseVote.annotator, PairwiseVote.winner)
                         .where(PairwiseVote.batch_id == batch_id, live_votes())).all()  # undone votes left out
    return [Vote(item_id, annotator, winner) for item_id, annotator, winner in rows]


def _judge_votes(studio, batch_id: str, judge: str) -> list[Vote]:
    """A judge's final verdicts on the batch's first criterion, one vote each as annotator "ai:<judge>"."""
    from studio.judges.arena import ai_annotator, verdict_records

    criterion = (get_batch(studio, batch_id).criteria or ["overall"])[0]
    records = verdict_records(studio, batch_id)
    voted = sorted({r["judge"] for r in records})
    if judge not in voted:
        raise PreferenceError(f"judge {judge!r} has no verdicts on this batch; "
                              + (f"judges that voted: {', '.join(voted)}" if voted else
                                 "let a judge vote first (`python -m studio judge batch`)"))
    return [Vote(r["item_id"], ai_annotator(judge), r["winner"]) for r in records
            if r["judge"] == judge and r["criterion"] == criterion and r["status"] == "ok" and r["winner"]]


def read_votes(studio, batch_id: str, source: str) -> list[Vote]:
    """Every counted vote of a batch from ``source``: the single place the build reads votes.

    ``human``: the annotators' live votes; ``judge:<name>``: that judge's final verdicts (a verdict
    that flipped with the order is a tie); ``both:<name>``: the two together, the judge counting as
    one more annotator (``both`` names the judge when exactly one voted on the batch). Human votes
    and judge verdicts are both read for the batch's first criterion.
    """
    kind, _, judge = (source or "").strip().partition(":")
    judge = judge.strip()
    if kind == "human" and not judge:
        return _human_votes(studio, batch_id)
    if kind == "both" and not judge:
        from studio.judges.arena import verdict_records

        voted = sorted({r["judge"] for r in verdict_records(studio, batch_id)})
        if len(voted) != 1:
            raise PreferenceError("source 'both' needs the judge named when the batch has "
                                  f"{'no judge verdicts' if not voted else 'several judges: ' + ', '.join(voted)}"
                                  f"; use both:<name>{' or human' if not voted else ''}")
        judge = voted[0]
    if kind in ("judge", "both") and judge:
        votes = _judge_votes(studio, batch_id, judge)
        return votes + _human_votes(studio, batch_id) if kind == "both" else votes
    raise PreferenceError(f"vote source {source!r} is not known; use {SOURCE_HELP}")


def build_preferences(studio, batch: str, *, source: str = "human", keep_ties: bool = False) -> BuildResult:
    """Pairs of one comparison batch.

    1. Resolve the batch (id or name) and read its votes from ``source`` (see :func:`read_votes`).
    2. Count each comparison's votes (skips do not count): model_a, model_b, ties (tie and both-bad).
    3. Decide: at least as many ties as decided votes -> tie; equal A and B -> contested; else the majority wins,
       weight = winner votes / counted votes.
    4. Resolve the image files; a comparison whose images are missing is left out and counted.
    """
    batch_id = resolve_batch(studio, batch)
    votes = read_votes(studio, batch_id, source)
    tallies: dict[str, Counter] = {}
    for v in votes:
        if v.winner == "skip":
            continue
        kind = v.winner if v.winner in ("model_a", "model_b") else "tie"
        tallies.setdefault(v.item_id, Counter())[kind] += 1
    with studio.db.session() as s:
        items = s.scalars(select(ComparisonItem).where(ComparisonItem.batch_id == batch_id)
                          .order_by(ComparisonItem.position)).all()
        items = [(i.id, i.prompt, i.output_a, i.output_b, i.source_image, i.taxonomy_id) for i in items]
    result = BuildResult()
    c = result.counts
    c.update({k: 0 for k in ("comparisons", "votes", "pairs", "ties", "contested", "unvoted",
                             "missing_images", "tie_rows")})
    c["comparisons"] = len(items)
    for item_id, prompt, out_a, out_b, source_sha, taxonomy_id in items:
        t = tallies.get(item_id)
        if not t:
            c["unvoted"] += 1
            continue
        total = sum(t.values())
        c["votes"] += total
        a, b, ties = t["model_a"], t["model_b"], t["tie"]
        if ties and ties >= a + b:
            c["ties"] += 1
            if not keep_ties:
                continue
            label, weight = 0.5, ties / total
        elif a == b:
            c["contested"] += 1
            continue
        else:
            label, weight = (1.0 if a > b else 0.0), max(a, b) / total
        paths = [studio.images.find(sha) if sha else None for sha in (out_a, out_b, source_sha)]
        if paths[0] is None or paths[1] is None or (source_sha and paths[2] is None):
            c["missing_images"] += 1
            continue
        result.pairs.append(Pair(caption=prompt, image_0=str(paths[0]), image_1=str(paths[1]), label_0=label,
                                 source_image=str(paths[2]) if source_sha else None, weight=round(weight, 4),
                                 taxonomy_id=taxonomy_id))
        if label == 0.5:
            c["tie_rows"] += 1
        else:
            c["pairs"] += 1
            result.by_taxonomy[taxonomy_id or "(none)"] += 1
    return result


def pairs_folder(studio, batch_name: str, source: str) -> Path:
    """Where the studio keeps the pairs of a batch from a source: ``<data_dir>/preferences/<batch>-<source>``,
    the name reduced to safe characters so no batch or judge name can point outside that folder."""
    slug = re.sub(r"[^\w.-]+", "_", f"{batch_name}-{source}").strip("._") or "pairs"
    return Path(studio.settings.data_dir) / "preferences" / slug


def build_pairs_folder(studio, batch: str, *, source: str = "human",
                       keep_ties: bool = False) -> tuple[BuildResult, Path]:
    """Build a batch's pairs and write them to the studio's own folder for them (what the UI's Build does).

    1. Build the pairs (:func:`build_preferences`).
    2. Refuse, writing nothing, when the decisive pairs are too few to train on.
    3. Replace the folder of this batch and source (:func:`pairs_folder`) with the new pairs and images.
    Returns the build and the folder.
    """
    result = build_preferences(studio, batch, source=source, keep_ties=keep_ties)
    refusal = too_few_decisive(result.counts["pairs"])
    if refusal:
        raise PreferenceError(refusal)
    folder = pairs_folder(studio, get_batch(studio, batch).name, source.strip())
    if folder.exists():
        shutil.rmtree(folder)  # a rebuild: images of pairs that no longer exist must not linger
    write_pairs(result.pairs, folder)
    return result, folder
