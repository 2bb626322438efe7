"""Reading a folder of taxonomy YAML files into a :class:`TaxonomyForest`, with precise errors.

Every problem is reported with the file, the path inside it (``children[2].children[0].target_count``),
the line when known, and what is wrong; all problems of a load are collected, then raised together.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import ValidationError

from studio.taxonomy.schema import NodeSpec, TaxonomyFileSpec
from studio.taxonomy.tree import TaxonomyForest, TaxonomyNode

FILE_SUFFIXES = (".yaml", ".yml")
_FIELDS = sorted(TaxonomyFileSpec.model_fields)


@dataclass(frozen=True)
class TaxonomyIssue:
    """One problem: which file, where inside it, what is wrong."""

    file: Path
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "(top level)"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{self.file}: {where}: {self.message}"


class TaxonomyError(ValueError):
    """The taxonomy files could not be loaded; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[TaxonomyIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    def one_line(self) -> str:
        return "; ".join(str(i) for i in self.issues)


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when present
    """SafeLoader that refuses a key repeated in one mapping (PyYAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark,
                )
            seen[key] = True
        return super().construct_mapping(node, deep=deep)


def format_path(loc: Iterable[Any]) -> str:
    """('children', 2, 'target_count') -> 'children[2].target_count'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the value at ``loc`` (or of the deepest mapping on the way)."""
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                return line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(err: dict[str, Any]) -> str:
    """A pydantic error as a sentence a person editing the file understands."""
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        name = str(err["loc"][-1])
        close = difflib.get_close_matches(name, _FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(_FIELDS)})"
        return f"unknown field {name!r}{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"wrong type: expected a whole number, got {_short(value)}"
    if kind == "string_type":
        return f"wrong type: expected text, got {_short(value)}"
    if kind == "list_type":
        return f"wrong type: expected a list, got {_short(value)}"
    if kind in ("model_type", "dict_type"):
        return f"wrong type: expected a mapping of fields, got {_short(value)}"
    if kind == "greater_than_equal":
        return f"must not be negative, got {_short(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "literal_error":
        return f"{err['msg'].replace('Input should be', 'expected')}, got {_short(value)}"
    if kind == "value_error":
        return err["msg"].removeprefix("Value error, ")
    return f"{err['msg']} (got {_short(value)})"


def _read_document(file: Path, issues: list[TaxonomyIssue]) -> tuple[TaxonomyFileSpec | None, str]:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        issues.append(TaxonomyIssue(file, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
        return None, ""
    except OSError as exc:
        issues.append(TaxonomyIssue(file, "", f"cannot read the file ({exc.strerror})"))
        return None, ""
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        where = f", column {mark.column + 1}" if mark is not None else ""
        issues.append(TaxonomyIssue(file, "", f"bad YAML{where}: {problem}", line))
        return None, text
    if data is None:
        issues.append(TaxonomyIssue(file, "", "the file is empty; expected a taxonomy node (key, title, definition, ...)"))
        return None, text
    if not isinstance(data, dict):
        issues.append(TaxonomyIssue(file, "", f"expected a mapping of fields at the top, got a {type(data).__name__}"))
        return None, text
    try:
        return TaxonomyFileSpec.model_validate(data), text
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            issues.append(TaxonomyIssue(file, format_path(loc), _describe(err), _line_of(text, loc)))
        return None, text


def _read_vocabulary(file: Path, spec: NodeSpec, path: str, issues: list[TaxonomyIssue]) -> tuple[str, ...]:
    """Entries of ``vocabulary_file``: one per line, '#' comments skipped, text after a TAB kept."""
    vpath = (file.parent / spec.vocabulary_file).resolve() if spec.vocabulary_file else None
    if vpath is None:
        return ()
    where = f"{path}.vocabulary_file" if path else "vocabulary_file"
    try:
        lines = vpath.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        issues.append(TaxonomyIssue(file, where, f"cannot read {spec.vocabulary_file!r} ({reason})"))
        return ()
    entries = tuple(
        line.split("\t", 1)[-1].strip() for line in lines if line.strip() and not line.lstrip().startswith("#")
    )
    if not entries:
        issues.append(TaxonomyIssue(file, where, f"{spec.vocabulary_file!r} has no entries"))
    return entries


@dataclass
class _Origin:
    file: Path
    path: str


def _build(
    spec: NodeSpec, node_id: str, file: Path, path: str, origins: dict[str, _Origin], issues: list[TaxonomyIssue]
) -> TaxonomyNode:
    node = TaxonomyNode(
        id=node_id, key=spec.key, title=spec.title, definition=spec.definition, file=file,
        definition_source=spec.definition_source, kind=spec.kind, target_count=spec.target_count,
        claimed_subtasks=spec.claimed_subtasks, claimed_categories=spec.claimed_categories,
        source=spec.source, built_from=spec.built_from, notes=tuple(spec.notes),
        examples=tuple(spec.examples), vocabulary_file=spec.vocabulary_file,
        vocabulary=_read_vocabulary(file, spec, path, issues),
    )
    for i, child_spec in enumerate(spec.children):
        child_path = f"{path}.children[{i}]" if path else f"children[{i}]"
        child_id = f"{node_id}/{child_spec.key}"
        if child_id in origins:
            first = origins[child_id]
            issues.append(TaxonomyIssue(
                file, f"{child_path}.key",
                f"duplicate id {child_id!r} (already defined at {first.path or 'the top'} of {first.file.name})",
            ))
            continue
        origins[child_id] = _Origin(file, child_path)
        child = _build(child_spec, child_id, file, child_path, origins, issues)
        child.parent = node
        node.children.append(child)
    return node


def taxonomy_files(path: Path) -> list[Path]:
    """The YAML files a taxonomy path stands for (a folder's *.yaml/*.yml, sorted, or one file)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix in FILE_SUFFIXES and p.is_file())


def load_taxonomies(path: str | Path) -> TaxonomyForest:
    """Load every taxonomy file under ``path``; raises :class:`TaxonomyError` listing all problems."""
    source = Path(path)
    if not source.exists():
        raise TaxonomyError([TaxonomyIssue(source, "", "no such file or folder (setting STUDIO_TAXONOMY_DIR)")])
    files = taxonomy_files(source)
    if not files:
        raise TaxonomyError([TaxonomyIssue(source, "", "no taxonomy files (*.yaml, *.yml) in this folder")])
    issues: list[TaxonomyIssue] = []
    origins: dict[str, _Origin] = {}
    roots: list[TaxonomyNode] = []
    extensions: list[tuple[Path, TaxonomyFileSpec]] = []
    for file in files:
        spec, _ = _read_document(file, issues)
        if spec is None:
            continue
        if spec.parent is not None:
            extensions.append((file, spec))
            continue
        if spec.key in origins:
            first = origins[spec.key]
            issues.append(TaxonomyIssue(file, "key", f"duplicate id {spec.key!r} (taxonomy already defined in {first.file.name})"))
            continue
        origins[spec.key] = _Origin(file, "")
        roots.append(_build(spec, spec.key, file, "", origins, issues))
    _attach_extensions(extensions, roots, origins, issues)
    if issues:
        raise TaxonomyError(issues)
    return TaxonomyForest(roots=roots, source=source, files=files, load=load_taxonomies)


def _attach_extensions(
    pending: list[tuple[Path, TaxonomyFileSpec]], roots: list[TaxonomyNode],
    origins: dict[str, _Origin], issues: list[TaxonomyIssue],
) -> None:
    """Hang extension files under their parents; an extension may extend another extension."""
    by_id = {n.id: n for r in roots for n in r.walk()}
    while pending:
        waiting = []
        for file, spec in pending:
            parent = by_id.get(spec.parent.strip().strip("/"))
            if parent is None:
                waiting.append((file, spec))
                continue
            node_id = f"{parent.id}/{spec.key}"
            if node_id in origins:
                first = origins[node_id]
                issues.append(TaxonomyIssue(
                    file, "key", f"duplicate id {node_id!r} (already defined at {first.path or 'the top'} of {first.file.name})"
                ))
                continue
            origins[node_id] = _Origin(file, "")
            node = _build(spec, node_id, file, "", origins, issues)
            node.parent = parent
            parent.children.append(node)
            by_id.update({n.id: n for n in node.walk()})
        if len(waiting) == len(pending):
            for file, spec in waiting:
                known = ", ".join(r.id for r in roots) or "none"
                issues.append(TaxonomyIssue(
                    file, "parent", f"unknown parent {spec.parent!r}: no node has this id (taxonomies: {known})",
                    _line_of(file.read_text(encoding="utf-8"), ("parent",)),
                ))
            return
        pending = waiting
