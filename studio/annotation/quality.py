"""Annotator quality from the vote facts: gold accuracy, competence (MACE), very fast votes.

Gold items are ordinary comparison items whose ``provenance["gold"]`` names the output that must win
(``"model_a"`` or ``"model_b"``, item side); nothing about them reaches the browser. Their votes
measure annotators and are left out of the model boards.

Competence follows MACE (Hovy et al., 2013): on each item an annotator either knows the true label
(probability θ, their competence) or answers from their own spamming distribution ξ. EM estimates θ,
ξ and each item's true label from every overlapping vote; gold items fix their true label. A
Beta(1, 1) pseudo-count keeps θ away from 0 and 1 for annotators with few votes.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

import numpy as np

from studio.annotation import AnnotationError
from studio.annotation.stats import wilson_interval

LABELS = ("model_a", "model_b", "tie", "tie (bothbad)")
GOLD_ANSWERS = ("model_a", "model_b")
#: a vote faster than this (milliseconds from showing the pair) is flagged as too fast to have looked
FAST_VOTE_MS = 1500


def gold_answer(provenance: dict[str, Any] | None) -> str | None:
    """The known winner of a gold item, None for an ordinary item; raises for a malformed answer."""
    gold = (provenance or {}).get("gold")
    if gold is None:
        return None
    if gold not in GOLD_ANSWERS:
        raise AnnotationError(f"a gold item's answer is model_a or model_b (the output that must win), got {gold!r}")
    return gold


def check_gold(items: Iterable[dict[str, Any]]) -> None:
    """Reject gold answers that contradict themselves: the same prompt and pair of outputs marked
    with different winners (in either orientation)."""
    seen: dict[tuple, str] = {}
    for it in items:
        answer = gold_answer(it.get("provenance"))
        if answer is None:
            continue
        win, lose = (it["output_a"], it["output_b"]) if answer == "model_a" else (it["output_b"], it["output_a"])
        key = (it.get("prompt", ""), it.get("source_image"), frozenset((win, lose)))
        if key in seen and seen[key] != win:
            raise AnnotationError(f"gold items for prompt {it.get('prompt', '')!r} name different winners for "
                                  "the same two images; fix or remove one of them")
        seen[key] = win


def gold_accuracy(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per annotator over gold items: votes, correct (a tie is wrong), accuracy and its Wilson interval."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        if r.get("gold") and r["winner"] != "skip":
            t = tally[r["annotator"]]
            t[0] += 1
            t[1] += int(r["winner"] == r["gold"])
    out = {}
    for who, (n, k) in sorted(tally.items()):
        lo, hi = wilson_interval(k, n)
        out[who] = {"gold_votes": n, "gold_correct": k, "gold_accuracy": round(k / n, 4),
                    "gold_ci": [round(lo, 4), round(hi, 4)]}
    return out


def mace(votes: list[tuple[str, str, str]], gold: dict[str, str] | None = None, *, iterations: int = 200,
         tol: float = 1e-8) -> dict[str, float]:
    """Competence θ per annotator from ``(item, annotator, label)`` votes (labels from :data:`LABELS`)."""
    gold = gold or {}
    items = sorted({i for i, _, _ in votes})
    judges = sorted({j for _, j, _ in votes})
    if not votes:
        return {}
    ii = _codes(items, [v[0] for v in votes])
    jj = _codes(judges, [v[1] for v in votes])
    ll = np.array([LABELS.index(lab) for _, _, lab in votes])
    k, n_items, n_judges = len(LABELS), len(items), len(judges)
    theta = np.full(n_judges, 0.8)
    xi = np.full((n_judges, k), 1.0 / k)
    clamp = np.zeros((n_items, k))
    fixed = np.zeros(n_items, dtype=bool)
    for idx, item in enumerate(items):
        if item in gold:
            clamp[idx, LABELS.index(gold[item])] = 1.0
            fixed[idx] = True
    for _ in range(iterations):
        # E-step: posterior over each item's true label
        like = theta[jj, None] * (ll[:, None] == np.arange(k)) + ((1 - theta[jj]) * xi[jj, ll])[:, None]
        log_post = np.zeros((n_items, k))
        np.add.at(log_post, ii, np.log(like))
        post = np.exp(log_post - log_post.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        post[fixed] = clamp[fixed]
        # expected "knew it" per vote: only possible when the label is the true one
        p_true = post[ii, ll]
        knew = p_true * theta[jj] / (theta[jj] + (1 - theta[jj]) * xi[jj, ll])
        spam = 1.0 - knew
        n_votes = np.bincount(jj, minlength=n_judges)
        new_theta = (np.bincount(jj, knew, n_judges) + 1.0) / (n_votes + 2.0)
        spam_by_label = np.zeros((n_judges, k))
        np.add.at(spam_by_label, (jj, ll), spam)
        xi = (spam_by_label + 0.1) / (spam_by_label + 0.1).sum(axis=1, keepdims=True)
        done = np.max(np.abs(new_theta - theta)) < tol
        theta = new_theta
        if done:
            break
    return {who: round(float(theta[n]), 4) for n, who in enumerate(judges)}


def _codes(names: list[str], values: list[str]) -> np.ndarray:
    index = {n: k for k, n in enumerate(names)}
    return np.array([index[v] for v in values])


def fast_votes(records: list[dict[str, Any]], threshold_ms: int = FAST_VOTE_MS) -> dict[str, int]:
    """Per annotator: votes (skips excluded) cast faster than ``threshold_ms`` after the pair was shown."""
    if threshold_ms <= 0:
        raise AnnotationError(f"the fast-vote threshold is a positive number of milliseconds, got {threshold_ms}")
    out: dict[str, int] = defaultdict(int)
    for r in records:
        lat = r.get("latency_ms")
        if r["winner"] != "skip" and isinstance(lat, (int, float)) and lat < threshold_ms:
            out[r["annotator"]] += 1
    return dict(out)


def annotator_quality(records: list[dict[str, Any]], *, fast_ms: int = FAST_VOTE_MS) -> list[dict[str, Any]]:
    """One row per annotator: votes, gold accuracy, MACE competence and very fast votes."""
    votes = [(r["item_id"], r["annotator"], r["winner"]) for r in records if r["winner"] != "skip"]
    gold = {r["item_id"]: r["gold"] for r in records if r.get("gold")}
    competence = mace(votes, gold)
    golds = gold_accuracy(records)
    fast = fast_votes(records, fast_ms)
    counts: dict[str, int] = defaultdict(int)
    for _, who, _ in votes:
        counts[who] += 1
    rows = []
    for who in sorted(counts):
        g = golds.get(who, {})
        rows.append({"annotator": who, "votes": counts[who], "gold_votes": g.get("gold_votes", 0),
                     "gold_accuracy": g.get("gold_accuracy"), "gold_ci": g.get("gold_ci"),
                     "competence": competence.get(who), "fast_votes": fast.get(who, 0)})
    return rows
