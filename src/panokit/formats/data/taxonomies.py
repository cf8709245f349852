"""Load the taxonomies and label maps held as package data (JSON files in this folder).

:func:`load_taxonomy` reads ``<name>.json``: ``{"name", "void_id", "categories": [...]}`` with
COCO-style category dicts; :func:`load_json` returns any data file parsed.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from panokit.core.taxonomy import Taxonomy


@cache
def load_json(name: str) -> Any:
    """Parse the package data file ``<name>.json`` (cached; treat the result as read-only)."""
    folder = resources.files("panokit.formats.data")
    return json.loads(folder.joinpath(f"{name}.json").read_text(encoding="utf-8"))


@cache
def load_taxonomy(name: str) -> Taxonomy:
    """The taxonomy stored in ``<name>.json``."""
    data = load_json(name)
    return Taxonomy.from_list(
        data["categories"], void_id=int(data.get("void_id", 0)), name=str(data["name"])
    )
