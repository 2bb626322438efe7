"""Keeping an open arena's comparisons ready: the next pair by matchmaking, outputs from the cache.

An annotator's vote and their next item are one short transaction of the vote path
(:func:`studio.annotation.voting.annotate`), which claims an item that already exists. Generating an
image takes seconds to minutes, so it must not happen inside that transaction: the arena keeps a few
items nobody has been shown yet (its *buffer*) ahead of the annotators, and :func:`top_up` makes new
ones as they are taken, outside any transaction. Each new item's pair comes from the votes standing at
that moment; the lag between a vote and the pairs it informs is at most the buffer.

Caching: every image is one row of ``arena_outputs`` keyed by (arena, prompt, backend, seed). A worker
claims the row (status ``generating``) before it calls the backend; a worker that finds the row
claimed by another moves on to another comparison, so no triple is ever generated twice, in one
process or in several sharing a database. A finished image serves every pair that needs it.

A failure (a remote backend down, a time limit met) is often passing: a failed row is claimed and tried
again after :data:`RETRY_AFTER_S`, twice as long after each further failure, up to :data:`MAX_TRIES`
tries; until then, and after the last, its combination is not offered. Opening a closed arena again
clears its failures, so an admin who mended a backend gets every combination back at once.
"""
from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import combinations

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from backends.base import BackendError, Cancelled, EditRequest, GenerationRequest
from studio.annotation.models import ComparisonBatch, ComparisonItem, PairwiseVote
from studio.annotation.service import add_comparison, live_votes
from studio.arena.matchmaking import ranked_pairs
from studio.arena.open_arena import fresh_items, resolve_arena
from studio.arena.open_models import MAX_TRIES, RETRY_AFTER_S, ArenaOutput, OpenArena
from studio.db.base import utcnow

log = logging.getLogger(__name__)
KEY_PREFIX = "open:"


@dataclass
class FillReport:
    """What one :func:`top_up` did: items made, problems met (generation failures, with the reason),
    whether every combination is made already, and whether it left work another worker is doing."""

    made: int = 0
    problems: list[str] = field(default_factory=list)
    exhausted: bool = False
    busy: bool = False


@dataclass
class _State:
    """What the next comparison is chosen from (read fresh before each one)."""

    arena: OpenArena
    is_open: bool
    ready: int
    waiting: set[tuple[int, int]]  # backend index pairs of the items nobody has been shown
    made: set[tuple[int, int, int, int]]  # (prompt, seed index, i, j) of every item
    usage: Counter  # items per prompt
    outputs: dict[tuple[int, str, int], ArenaOutput]

    def seed_of(self, p: int, s: int) -> int:
        return self.arena.seed + p * self.arena.seeds + s


def item_key(p: int, s: int, i: int, j: int) -> str:
    """The item's key in its batch: prompt index, seed index and the two backends' indices."""
    return f"{KEY_PREFIX}{p}:{s}:{i}-{j}"


def _parse_key(key: str | None) -> tuple[int, int, int, int] | None:
    if not key or not key.startswith(KEY_PREFIX):
        return None
    p, s, pair = key[len(KEY_PREFIX):].split(":")
    i, j = pair.split("-")
    return int(p), int(s), int(i), int(j)


def _read(studio, batch_id: str) -> _State:
    with studio.db.session() as s:
        arena, batch = s.get(OpenArena, batch_id), s.get(ComparisonBatch, batch_id)
        index = {name: k for k, name in enumerate(arena.backends)}
        made = {k for k in map(_parse_key, s.scalars(select(ComparisonItem.item_key)
                                                     .where(ComparisonItem.batch_id == batch_id))) if k}
        fresh = s.execute(select(ComparisonItem.model_a, ComparisonItem.model_b).where(fresh_items(batch_id))).all()
        waiting = {tuple(sorted((index[a], index[b]))) for a, b in fresh if a in index and b in index}
        outputs = {(o.prompt_index, o.backend, o.seed): o
                   for o in s.scalars(select(ArenaOutput).where(ArenaOutput.arena_id == batch_id))}
    return _State(arena=arena, is_open=batch.status == "open", ready=len(fresh), waiting=waiting, made=made,
                  usage=Counter(p for p, *_ in made), outputs=outputs)


def vote_counts(studio, batch_id: str, models: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(score, battles) between ``models`` from the arena's standing votes: score[i, j] the points i
    took from j (a win 1, a tie ½ each), battles symmetric. Skips, withdrawn votes, votes of
    annotators left out of the boards and items of other models (gold pairs) do not count."""
    from studio.arena.exclusions import excluded_annotators

    idx = {m: k for k, m in enumerate(models)}
    score, battles = np.zeros((len(models), len(models))), np.zeros((len(models), len(models)))
    stmt = (select(ComparisonItem.model_a, ComparisonItem.model_b, PairwiseVote.winner, func.count())
            .join(ComparisonItem, ComparisonItem.id == PairwiseVote.item_id)
            .where(PairwiseVote.batch_id == batch_id, PairwiseVote.winner != "skip", live_votes())
            .group_by(ComparisonItem.model_a, ComparisonItem.model_b, PairwiseVote.winner))
    excluded = excluded_annotators(studio)
    if excluded:
        stmt = stmt.where(PairwiseVote.annotator.not_in(sorted(excluded)))
    with studio.db.session() as s:
        rows = s.execute(stmt).all()
    for a, b, winner, n in rows:
        if a not in idx or b not in idx or a == b:
            continue
        i, j = idx[a], idx[b]
        points_a = 1.0 if winner == "model_a" else 0.0 if winner == "model_b" else 0.5
        score[i, j] += n * points_a
        score[j, i] += n * (1.0 - points_a)
        battles[i, j] += n
        battles[j, i] += n
    return score, battles


def pair_order(studio, state: _State, rng: random.Random) -> list[tuple[int, int]]:
    """Backend index pairs (i < j), most worth a vote first by the arena's policy; pairs that already
    wait in the buffer go last, so the buffer does not fill with one pair between two votes."""
    models = list(state.arena.backends)
    if state.arena.policy == "active":
        score, battles = vote_counts(studio, state.arena.batch_id, models)
        pos = {m: k for k, m in enumerate(models)}
        pairs = [tuple(sorted((pos[a], pos[b]))) for a, b in ranked_pairs(models, score, battles, seed=rng.randrange(2**32))]
    else:
        pairs = list(combinations(range(len(models)), 2))
        rng.shuffle(pairs)
    return [p for p in pairs if p not in state.waiting] + [p for p in pairs if p in state.waiting]


def upcoming_pairs(studio, arena: str) -> list[tuple[str, str]]:
    """The arena's backend pairs in the order its next comparisons would take them now."""
    state = _read(studio, resolve_arena(studio, arena))
    names = state.arena.backends
    return [(names[i], names[j]) for i, j in pair_order(studio, state, random.Random())]


def _age(o: ArenaOutput) -> timedelta:
    started = o.started_at if o.started_at.tzinfo else o.started_at.replace(tzinfo=utcnow().tzinfo)
    return utcnow() - started


def _stale(o: ArenaOutput, limit_s: int) -> bool:
    """A claim older than twice the time limit: its worker died mid-generation (a stopped server)."""
    return _age(o) > timedelta(seconds=2 * limit_s)


def may_retry(o: ArenaOutput) -> bool:
    """A failed output whose pause is over and that has tries left."""
    tries = o.attempts or 1
    return tries < MAX_TRIES and _age(o) >= timedelta(seconds=RETRY_AFTER_S * 2 ** (tries - 1))


def choose_combination(state: _State, i: int, j: int, skip: set) -> tuple[int, int] | None:
    """(prompt, seed index) for backends i and j that has no item yet and no busy output, nor a failed
    one that is not due for another try.

    Prompts are spread evenly, but an image already generated counts in a prompt's favour: the key is
    (items of the prompt − cached outputs of this pair, −cached, seed index, prompt), so a prompt is
    reused for a pair when that saves generation and only up to where others are as little used."""
    names = (state.arena.backends[i], state.arena.backends[j])
    best, best_key = None, None
    for p in range(len(state.arena.prompts)):
        for s in range(state.arena.seeds):
            if (p, s, i, j) in state.made or (p, s, i, j) in skip:
                continue
            seed = state.seed_of(p, s)
            cached, blocked = 0, False
            for name in names:
                o = state.outputs.get((p, name, seed))
                if o is None:
                    continue
                if o.status == "done":
                    cached += 1
                elif o.status == "failed":
                    blocked = not may_retry(o)
                elif not _stale(o, state.arena.time_limit_s):
                    blocked = True
            if blocked:
                continue
            key = (state.usage[p] - cached, -cached, s, p)
            if best_key is None or key < best_key:
                best, best_key = (p, s), key
    return best


def top_up(studio, arena: str, *, most: int | None = None, cancel: threading.Event | None = None) -> FillReport:
    """Make comparisons until the arena has ``buffer`` items nobody has been shown (or ``most`` are made).

    1. Read the arena; a closed one gets nothing.
    2. Order the backend pairs by the matchmaking policy from the standing votes.
    3. Take the first pair that still has a (prompt, seed) without an item; choose that combination
       (:func:`choose_combination`).
    4. Get both outputs from the cache, or claim and generate them outside any transaction, each
       within the arena's time limit; a failure is recorded on its output (the status shows it) and
       that combination is not offered again until the output is due for another try.
    5. Add the item (its key makes a second add of the same combination return the first) and go on.
    """
    batch_id = resolve_arena(studio, arena)
    report = FillReport()
    rng = random.Random()
    skip: set = set()
    while cancel is None or not cancel.is_set():
        state = _read(studio, batch_id)
        if not state.is_open or state.ready >= state.arena.buffer or (most is not None and report.made >= most):
            return report
        choice = None
        for i, j in pair_order(studio, state, rng):
            combo = choose_combination(state, i, j, skip)
            if combo is not None:
                choice = (combo[0], combo[1], i, j)
                break
        if choice is None:
            report.exhausted = not report.busy and not skip
            return report
        p, s, i, j = choice
        sides = []
        for k in (i, j):
            try:
                sha = _output(studio, state, p, state.arena.backends[k], state.seed_of(p, s))
            except _Failed as exc:
                report.problems.append(str(exc))
                sha = None
            if sha is None:
                break
            sides.append(sha)
        if len(sides) < 2:
            report.busy = report.busy or not report.problems
            skip.add(choice)
            if report.problems:
                return report  # a failing backend: let the caller pause before the next try
            continue
        prompt = state.arena.prompts[p]
        add_comparison(studio, batch_id, prompt=prompt["prompt"], task=state.arena.task, output_a=sides[0],
                       model_a=state.arena.backends[i], output_b=sides[1], model_b=state.arena.backends[j],
                       source_image=prompt.get("source_image"), taxonomy_id=prompt.get("taxonomy_id"),
                       item_key=item_key(p, s, i, j),
                       provenance={"source": "open-arena", "prompt_index": p, "seed": state.seed_of(p, s)})
        report.made += 1
    return report


class _Failed(Exception):
    """Generating an output failed (the message names the backend, the prompt and the reason)."""


def _output(studio, state: _State, p: int, backend: str, seed: int) -> str | None:
    """The image of (prompt p, backend, seed): cached, or generated now; None while another worker
    generates it. Raises :class:`_Failed` when it failed (now or before)."""
    limit = state.arena.time_limit_s
    with studio.db.session() as s:
        row = s.scalar(select(ArenaOutput).where(ArenaOutput.arena_id == state.arena.batch_id,
                                                 ArenaOutput.prompt_index == p, ArenaOutput.backend == backend,
                                                 ArenaOutput.seed == seed))
        if row is not None and row.status == "done":
            return row.image
        if row is not None and row.status == "failed" and not may_retry(row):
            raise _Failed(row.error)
        if row is not None:
            if row.status == "generating" and not _stale(row, limit):
                return None
            # a failure due for another try, or a worker that died mid-generation: take the claim over
            again = {"status": "generating", "error": "", "attempts": (row.attempts or 1) + 1} \
                if row.status == "failed" else {}
            took = s.execute(update(ArenaOutput).where(ArenaOutput.id == row.id, ArenaOutput.status == row.status,
                                                       ArenaOutput.started_at == row.started_at)
                             .values(started_at=utcnow(), **again)).rowcount
            if took != 1:
                return None
            claim = row.id
    if row is None:
        claim_row = ArenaOutput(arena_id=state.arena.batch_id, prompt_index=p, backend=backend, seed=seed,
                                status="generating", error="")
        try:
            with studio.db.session() as s:
                s.add(claim_row)
        except IntegrityError:
            return None  # another worker claimed it first
        claim = claim_row.id
    try:
        sha = _generate(studio, state.arena, state.arena.prompts[p], backend, seed)
    except _Failed as exc:
        with studio.db.session() as s:
            s.execute(update(ArenaOutput).where(ArenaOutput.id == claim).values(status="failed", error=str(exc)[:2000]))
        log.warning("open arena %s: %s", state.arena.batch_id, exc)
        raise
    with studio.db.session() as s:
        s.execute(update(ArenaOutput).where(ArenaOutput.id == claim).values(status="done", image=sha))
    return sha


def _generate(studio, arena: OpenArena, prompt: dict, backend_name: str, seed: int) -> str:
    """One output, stored; the backend is asked to stop at the arena's time limit."""
    stop = threading.Event()
    timer = threading.Timer(arena.time_limit_s, stop.set)
    timer.daemon = True
    timer.start()
    what = f"{backend_name} on prompt {prompt['prompt'][:60]!r}"
    try:
        backend = studio.backends.get(backend_name)
        own = studio.backends.defaults(backend_name)  # each backend samples with its own steps and guidance
        if arena.task == "edit":
            result = backend.edit(EditRequest(image=studio.images.open(prompt["source_image"]),
                                              instruction=prompt["prompt"], seed=seed, steps=own.get("steps"),
                                              cancel=stop))
        else:
            result = backend.generate(GenerationRequest(prompt=prompt["prompt"], seed=seed, width=arena.width,
                                                        height=arena.height, steps=own.get("steps"),
                                                        guidance_scale=own.get("guidance_scale"), cancel=stop))
        return studio.samples.store_image(result.image)
    except Cancelled:
        raise _Failed(f"{what}: stopped after the arena's time limit of {arena.time_limit_s} s") from None
    except (BackendError, ValueError, RuntimeError, OSError) as exc:
        raise _Failed(f"{what}: {exc}") from None
    finally:
        timer.cancel()
