"""Task taxonomies from the papers, loaded from YAML files: tree, lookup, search and coverage."""
from __future__ import annotations

from studio.taxonomy.coverage import NodeCoverage, compute_coverage, module_coverage, unknown_sample_ids
from studio.taxonomy.loader import TaxonomyError, TaxonomyIssue, load_taxonomies
from studio.taxonomy.tree import TaxonomyForest, TaxonomyNode

__all__ = [
    "NodeCoverage",
    "TaxonomyError",
    "TaxonomyForest",
    "TaxonomyIssue",
    "TaxonomyNode",
    "compute_coverage",
    "load_taxonomies",
    "module_coverage",
    "unknown_sample_ids",
]
