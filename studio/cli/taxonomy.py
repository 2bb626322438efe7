"""`python -m studio taxonomy [--json]`: the whole taxonomy tree with ids, definitions and paper counts."""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from studio.cli import CLIError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "taxonomy",
        help="print the task taxonomies (ids, definitions, paper target counts)",
        description="Print the taxonomies loaded from the taxonomy folder (setting STUDIO_TAXONOMY_DIR). "
        "Also checks edited files: a malformed file is reported with its path inside the file.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a text tree")
    p.add_argument("--dir", type=Path, help="read this folder (or file) instead of the configured one")
    p.add_argument("--node", help="print only the subtree of this node id")
    p.add_argument("--coverage", action="store_true", help="add how many samples the studio's database holds per node")
    p.set_defaults(func=run)


def node_dict(node, coverage: dict | None = None) -> dict[str, Any]:
    """A node and its subtree as plain data (the --json output)."""
    out: dict[str, Any] = {
        "id": node.id,
        "title": node.title,
        "definition": node.definition,
        "definition_source": node.definition_source,
        "kind": node.kind,
        "target_count": node.target_count,
        "claimed_subtasks": node.claimed_subtasks,
        "claimed_categories": node.claimed_categories,
        "listed_subtasks": node.listed_subtasks,
        "listed_target_total": node.listed_target_total() if node.children else None,
        "discrepancies": node.discrepancies(),
        "source": node.source,
        "built_from": node.built_from,
        "notes": list(node.notes),
        "examples": list(node.examples),
        "vocabulary_file": node.vocabulary_file,
        "vocabulary": list(node.vocabulary),
    }
    if coverage is not None:
        out["samples"] = coverage[node.id].samples
    out["children"] = [node_dict(c, coverage) for c in node.children]
    return out


def text_tree(roots, coverage: dict | None = None, width: int = 100) -> str:
    """An indented tree: id, title, counts on one line, then the definition wrapped below it."""
    lines: list[str] = []

    def emit(node, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        facts = []
        if node.target_count is not None:
            facts.append(f"target {node.target_count:,}")
        if node.claimed_subtasks is not None:
            facts.append(f"claims {node.claimed_subtasks} subtasks, lists {node.listed_subtasks}")
        if coverage is not None:
            facts.append(f"samples {coverage[node.id].samples:,}")
        tail = f"  [{'; '.join(facts)}]" if facts else ""
        lines.append(f"{prefix}{branch}{node.id}  {node.title}{tail}")
        inner = prefix + ("" if top else ("   " if last else "│  "))
        body = inner + ("│  " if node.children else "   ")
        lines.extend(textwrap.wrap(node.definition, width=max(width - len(body), 40),
                                   initial_indent=body, subsequent_indent=body))
        for problem in node.discrepancies():
            lines.append(f"{body}! {problem}")
        for i, child in enumerate(node.children):
            emit(child, inner, i == len(node.children) - 1, False)

    for root in roots:
        emit(root, "", True, True)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def run(args: argparse.Namespace) -> int:
    from studio.settings import SettingsError, load_settings
    from studio.taxonomy import TaxonomyError, load_taxonomies

    try:
        path = args.dir or load_settings().taxonomy_dir
        forest = load_taxonomies(path)
    except (TaxonomyError, SettingsError) as exc:
        raise CLIError(exc.one_line() if isinstance(exc, TaxonomyError) else str(exc)) from None
    try:
        roots = [forest.get(args.node)] if args.node else forest.roots
    except KeyError as exc:
        raise CLIError(exc.args[0]) from None
    coverage = None
    if args.coverage:
        from studio.cli import make_studio
        from studio.taxonomy import compute_coverage

        studio = make_studio()
        try:
            coverage = compute_coverage(forest, studio.samples.count_by_taxonomy())
        finally:
            studio.close()
    if args.json:
        output = json.dumps([node_dict(r, coverage) for r in roots], indent=2, ensure_ascii=False) + "\n"
    else:
        output = text_tree(roots, coverage)
    try:
        sys.stdout.write(output)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
