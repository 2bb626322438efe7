"""Prompt parser: text -> objects (class, count, color, size), relations, quoted text, setting, style.

A greedy longest-match scan over a fixed lexicon; every token is either used (reported as part of an
honored phrase), a filler word, or reported as ignored. Contradictions and impossible counts are
resolved with a rule and a note, never an exception.
"""
from __future__ import annotations

import re
from backends.procedural import lexicon as lx
from backends.procedural.specs import ObjectSpec, ParsedPrompt, RelationSpec, TextSpec

MAX_PROMPT_CHARS = 100_000
MAX_REPORTED = 40
_QUOTE_RE = re.compile(
    r"\"([^\"]{1,500})\"|“([^”]{1,500})”|‘([^’]{1,500})’|«([^»]{1,500})»|「([^」]{1,500})」"
    r"|(?:(?<=^)|(?<=[\s:(\[]))'([^']{1,500}?)'(?=$|[\s.,;:!?)\]])"
)
_TOKEN_RE = re.compile(r"__text\d+__|[^\W_][\w&'\-]*|[,;.!?:]")
_FILLER_PREPOSITIONS = frozenset({"on", "in", "by", "over", "near", "around", "under", "inside", "within"})
__all__ = ["ObjectSpec", "ParsedPrompt", "RelationSpec", "TextSpec", "parse_prompt"]
_DETERMINERS = frozenset({"the", "a", "an", "this", "that", "its", "their", "his", "her", "some", "of"})


def _build_lexicon() -> dict[str, list[tuple[str, object]]]:
    table: dict[str, list[tuple[str, object]]] = {}

    def put(phrase: str, kind: str, value: object) -> None:
        table.setdefault(phrase, []).append((kind, value))

    for form, cls in lx.build_class_index().items():
        put(form, "class", cls)
    for name in lx.COLORS:
        put(name, "color", name)
    for syn, name in lx.COLOR_SYNONYMS.items():
        put(syn, "color", name)
    for word, n in lx.NUMBER_WORDS.items():
        if word not in ("a", "an"):
            put(word, "number", n)
    for word, f in lx.SIZE_WORDS.items():
        put(word, "size", word)
    for phrase, rel in lx.RELATIONS.items():
        put(phrase, "relation", rel)
    for phrase, arr in lx.ARRANGEMENTS.items():
        put(phrase, "arrangement", arr)
    for phrase, st in lx.STYLES.items():
        put(phrase, "style", st)
    for phrase, s in lx.SETTINGS.items():
        put(phrase, "setting", s)
    for phrase, t in lx.TIMES.items():
        put(phrase, "time", t)
    for phrase, fw in lx.FONT_WORDS.items():
        put(phrase, "font", fw)
    return table


LEXICON = _build_lexicon()
_MAX_PHRASE = max(len(p.split()) for p in LEXICON)


def extract_quotes(prompt: str) -> tuple[str, list[str]]:
    """Replace quoted strings by ``__textN__`` placeholders; returns the new text and the strings."""
    texts: list[str] = []

    def sub(m: re.Match) -> str:
        inner = next(g for g in m.groups() if g is not None)
        texts.append(inner.replace("\\n", "\n"))
        return f" __text{len(texts) - 1}__ "

    return _QUOTE_RE.sub(sub, prompt), texts


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens; possessive 's is dropped."""
    out = []
    for tok in _TOKEN_RE.findall(text.lower()):
        if tok.endswith("'s"):
            tok = tok[:-2]
        out.append(tok.strip("'") or tok)
    return out


class _Scanner:
    """One left-to-right pass that turns tokens into a ParsedPrompt."""

    def __init__(self, tokens: list[str], texts: list[str]) -> None:
        self.tokens = tokens
        self.quoted = texts
        self.used = [False] * len(tokens)
        self.out = ParsedPrompt()
        self.pending: dict[str, object] = {}
        self.pending_start: int | None = None
        self.pending_rel: tuple[str, str, int] | None = None
        self.last_object: int | None = None
        self.last_entity: tuple[str, int] | None = None
        self.font_pending: list[tuple[str, str, str]] = []
        self.total = 0

    # -- lookup -----------------------------------------------------------------------------
    def match(self, i: int) -> tuple[int, list[tuple[str, object]]] | None:
        if self.tokens[i].isascii() and self.tokens[i].isdigit() and len(self.tokens[i]) <= 6:
            return 1, [("number", int(self.tokens[i]))]
        for n in range(min(_MAX_PHRASE, len(self.tokens) - i), 0, -1):
            phrase = " ".join(self.tokens[i : i + n])
            if phrase in LEXICON:
                return n, LEXICON[phrase]
        return None

    def next_content(self, i: int) -> tuple[str, object] | None:
        """Kind of the next meaningful mention from token i (skipping determiners, modifiers and up to
        two unknown adjectives such as 'wooden')."""
        unknown = 0
        while i < len(self.tokens):
            tok = self.tokens[i]
            if tok in ",;.!?:":
                return None
            if tok in _DETERMINERS:
                i += 1
                continue
            m = self.match(i)
            if m is None:
                unknown += 1
                if unknown > 2 or tok.startswith("__text") or tok in lx.STOPWORDS:
                    return None
                i += 1
                continue
            n, kinds = m
            kind_names = [k for k, _ in kinds]
            if "class" in kind_names:
                return "class", kinds[kind_names.index("class")][1]
            if "setting" in kind_names:
                return "setting", None
            if any(k in ("color", "number", "size") for k in kind_names):
                i += n
                continue
            return kind_names[0], kinds[0][1]
        return None

    # -- actions ----------------------------------------------------------------------------
    def phrase(self, start: int, end: int) -> str:
        return " ".join(self.tokens[start:end])

    def mark(self, start: int, end: int) -> None:
        for j in range(start, end):
            self.used[j] = True

    def flush_pending(self) -> None:
        """Modifiers with no noun after them attach to the last thing named, or are ignored."""
        color = self.pending.get("color")
        if color and self.last_entity is not None:
            kind, idx = self.last_entity
            target = self.out.objects[idx] if kind == "object" else self.out.texts[idx]
            if target.color is None:
                target.color = color  # type: ignore[assignment]
                self.out.honored.append(f"{color} ({'text' if kind == 'text' else target.cls})")  # type: ignore[union-attr]
                color = None
        if color:
            self.out.ignored.append(f"{color} (no object follows)")
            self.out.notes.append(f"'{color}' names no object; ignored")
        for key in ("count", "size"):
            if key in self.pending:
                self.out.ignored.append(f"{self.pending[f'{key}_word']} (no object follows)")
        self.pending = {}
        self.pending_start = None

    def add_object(self, cls: str, start: int, end: int, definite: bool) -> int | None:
        p = self.pending
        spec = ObjectSpec(cls=cls)
        if "count" in p:
            n = int(p["count"])  # type: ignore[arg-type]
            spec.explicit_count = True
            if n < 1:
                self.out.notes.append(f"count {n} of {cls} is below one; drew one")
                self.out.ignored.append(f"{p['count_word']} (count below one)")
                n = 1
            if n > lx.MAX_PER_GROUP:
                self.out.notes.append(f"{n} {cls} capped at {lx.MAX_PER_GROUP} per group")
                self.out.ignored.append(f"{p['count_word']} (more than {lx.MAX_PER_GROUP}; drew {lx.MAX_PER_GROUP})")
                n = lx.MAX_PER_GROUP
            spec.count = n
        spec.color = p.get("color")  # type: ignore[assignment]
        if "size" in p:
            spec.size_word = str(p["size"])
            spec.size = lx.SIZE_WORDS[spec.size_word]
        spec.phrase = self.phrase(self.pending_start if self.pending_start is not None else start, end)
        self.pending, self.pending_start = {}, None
        # a later mention of an existing group: reference, duplicate or contradiction
        for idx, old in enumerate(self.out.objects):
            if old.cls != cls:
                continue
            same_color = spec.color is None or old.color is None or spec.color == old.color
            if definite and not spec.explicit_count and same_color:
                if spec.color and old.color is None:
                    old.color = spec.color
                self.out.honored.append(spec.phrase)
                return idx
            if spec.explicit_count and old.explicit_count and spec.color == old.color:
                if spec.count == old.count:
                    self.out.honored.append(spec.phrase)
                    return idx
                self.out.ignored.append(f"{spec.phrase} (contradicts '{old.phrase}'; kept the first)")
                self.out.notes.append(f"contradiction: '{spec.phrase}' vs '{old.phrase}'; kept '{old.phrase}'")
                return idx
        if self.total + spec.count > lx.MAX_OBJECTS:
            room = lx.MAX_OBJECTS - self.total
            if room <= 0:
                self.out.ignored.append(f"{spec.phrase} (scene already holds {lx.MAX_OBJECTS} objects)")
                return None
            self.out.notes.append(f"{spec.phrase}: only {room} fit within the {lx.MAX_OBJECTS}-object limit")
            spec.count = room
        self.total += spec.count
        self.out.objects.append(spec)
        self.out.honored.append(spec.phrase)
        return len(self.out.objects) - 1

    def link(self, target: int) -> None:
        """Close a pending relation now that its object is known."""
        if self.pending_rel is None:
            return
        surface, rel, subject = self.pending_rel
        self.pending_rel = None
        if subject == target:
            self.out.ignored.append(f"{surface} (relates an object to itself)")
            return
        subj, obj = (target, subject) if rel in lx.INVERSE else (subject, target)
        canonical = lx.INVERSE.get(rel, rel)
        phrase = f"{self.out.objects[subject].cls} {surface} {self.out.objects[target].cls}"
        self.out.relations.append(RelationSpec(subj, canonical, obj, phrase))
        self.out.honored.append(phrase)

    def run(self) -> ParsedPrompt:
        i, toks = 0, self.tokens
        while i < len(toks):
            tok = toks[i]
            if tok.startswith("__text") and tok.endswith("__"):
                self.mark(i, i + 1)
                self.add_text(int(tok[6:-2]))
                i += 1
                continue
            if tok in ",;.!?:":
                self.flush_pending()
                i += 1
                continue
            m = self.match(i)
            if m is None:
                i += 1
                continue
            n, kinds = m
            kind_names = [k for k, _ in kinds]
            if "class" in kind_names and "color" in kind_names:  # "orange": color before a noun, else fruit
                ahead = self.next_content(i + n)
                predicative = i > 0 and toks[i - 1] in ("is", "are", "was", "were", "colored", "coloured", "painted")
                as_color = (ahead is not None and ahead[0] == "class") or (predicative and self.last_entity is not None)
                kinds = [k for k in kinds if k[0] == ("color" if as_color else "class")]
            kind, value = kinds[0]
            end = i + n
            if kind == "class":
                definite = i > 0 and toks[i - 1] == "the"
                idx = self.add_object(str(value), i, end, definite)
                self.mark(i, end)
                if idx is not None:
                    self.link(idx)
                    self.last_object = idx
                    self.last_entity = ("object", idx)
                else:
                    self.pending_rel = None
            elif kind in ("color", "number", "size"):
                if self.pending_start is None:
                    self.pending_start = i
                if kind == "color" and "color" in self.pending:
                    self.out.ignored.append(f"{value} (second color for one object; kept {self.pending['color']})")
                elif kind == "number":
                    self.pending["count"], self.pending["count_word"] = value, self.phrase(i, end)
                elif kind == "size":
                    self.pending["size"], self.pending["size_word"] = value, self.phrase(i, end)
                else:
                    self.pending["color"] = value
                self.mark(i, end)
            elif kind == "relation":
                self.relation(i, end, str(value))
            elif kind in ("setting", "time", "style", "arrangement", "font"):
                self.scalar(kind, value, i, end)
            i = end
        self.flush_pending()
        if self.pending_rel is not None:
            self.out.ignored.append(f"{self.pending_rel[0]} (no object after it)")
        self.apply_fonts()
        self.collect_ignored()
        return self.out

    def relation(self, i: int, end: int, rel: str) -> None:
        surface = self.phrase(i, end)
        ahead = self.next_content(end)
        if ahead and ahead[0] == "setting":
            self.mark(i, end)  # "on the beach": the preposition belongs to the setting
            return
        if ahead is None or ahead[0] != "class":
            if surface not in _FILLER_PREPOSITIONS:
                self.mark(i, end)
                self.out.ignored.append(f"{surface} (no object after it)")
            return
        self.mark(i, end)
        if self.last_object is None:
            if not (self.last_entity and self.last_entity[0] == "text"):  # "'HI' on a sign": the sign carries it
                self.out.ignored.append(f"{surface} (no object before it)")
            return
        self.flush_pending()
        self.pending_rel = (surface, rel, self.last_object)

    def scalar(self, kind: str, value: object, i: int, end: int) -> None:
        surface = self.phrase(i, end)
        self.mark(i, end)
        out = self.out
        if kind == "setting":
            if out.setting and out.setting != value:
                out.ignored.append(f"{surface} (second setting; kept {out.setting})")
                return
            out.setting = str(value)
        elif kind == "time":
            if out.time and out.time != value:
                out.ignored.append(f"{surface} (second time of day; kept {out.time})")
                return
            out.time = str(value)
        elif kind == "style":
            if value not in out.styles:
                out.styles.append(str(value))
        elif kind == "arrangement":
            if value == "symmetric":
                out.arrangement = "symmetric"
            elif self.last_object is not None:
                out.objects[self.last_object].arrangement = str(value)
            else:
                out.arrangement = str(value)
        elif kind == "font":
            k, v = value  # type: ignore[misc]
            self.font_pending.append((surface, k, v))
            return
        out.honored.append(surface)

    def add_text(self, idx: int) -> None:
        spec = TextSpec(text=self.quoted[idx])
        color = self.pending.pop("color", None)
        if color:
            spec.color = str(color)
        self.out.texts.append(spec)
        self.out.honored.append(f"'{spec.text}'")
        self.last_entity = ("text", len(self.out.texts) - 1)
        if not self.pending:
            self.pending_start = None

    def apply_fonts(self) -> None:
        """Typography words describe every quoted text (or are ignored if there is none)."""
        for surface, key, value in self.font_pending:
            if not self.out.texts:
                self.out.ignored.append(f"{surface} (no quoted text to style)")
                continue
            for spec in self.out.texts:
                setattr(spec, key, value)
            self.out.honored.append(surface)

    def collect_ignored(self) -> None:
        run: list[str] = []
        runs: list[str] = []
        for tok, used in zip(self.tokens + [","], self.used + [True]):
            if used or tok in lx.STOPWORDS or tok in ",;.!?:":
                if run:
                    runs.append(" ".join(run))
                    run = []
            else:
                run.append(tok)
        self.out.ignored.extend(runs)


def parse_prompt(prompt: str) -> ParsedPrompt:
    """Parse a prompt into object groups, relations, texts, setting, time and styles."""
    notes = []
    if len(prompt) > MAX_PROMPT_CHARS:
        notes.append(f"prompt is {len(prompt):,} characters; only the first {MAX_PROMPT_CHARS:,} were read")
        prompt = prompt[:MAX_PROMPT_CHARS]
    text, quoted = extract_quotes(prompt)
    parsed = _Scanner(tokenize(text), quoted).run()
    parsed.notes[:0] = notes
    if not prompt.strip():
        parsed.notes.append("the prompt is empty: drew an empty background")
    elif not parsed.objects and not parsed.texts and not parsed.setting and not parsed.styles:
        parsed.notes.append("no known object, text, setting or style in the prompt: drew the background only")
    for name in ("honored", "ignored"):
        items = getattr(parsed, name)
        if len(items) > MAX_REPORTED:
            setattr(parsed, name, items[:MAX_REPORTED] + [f"... and {len(items) - MAX_REPORTED} more"])
    return parsed
