"""Curation: statistics, pictures, subset selection, near-duplicates, splits, domain shift.

Everything here works on :class:`~panokit.dataset.PanopticDataset` and its labels, for
images and point clouds alike; plots for HTML reports need the ``curation`` extra
(matplotlib), the rest needs numpy and Pillow only.
"""

from __future__ import annotations

from panokit.curation.dedup import DuplicateReport, dhash, find_duplicates, phash
from panokit.curation.features import FeatureTable, dataset_features, load_features
from panokit.curation.select import Selection, coverage_radius, k_center_greedy, select
from panokit.curation.shift import ShiftReport, compare, domain_shift, read_label_map
from panokit.curation.split import check_split, stratified_split
from panokit.curation.stats import DatasetStats, EmptyDatasetError, compute_stats, jensen_shannon

__all__ = [
    "DatasetStats",
    "DuplicateReport",
    "EmptyDatasetError",
    "FeatureTable",
    "Selection",
    "ShiftReport",
    "check_split",
    "compare",
    "compute_stats",
    "coverage_radius",
    "dataset_features",
    "dhash",
    "domain_shift",
    "find_duplicates",
    "jensen_shannon",
    "k_center_greedy",
    "load_features",
    "phash",
    "read_label_map",
    "select",
    "stratified_split",
]
