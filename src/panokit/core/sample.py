"""Samples: a reference to media plus a lazily loaded label.

A :class:`Sample` holds paths and loader callables supplied by the format that made it;
creating or iterating samples opens no file.  ``load_label()`` opens only this sample's
label files, ``load_media()`` only its media.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from panokit.core.label import PanopticLabel
from panokit.errors import MissingFileError


@dataclass
class Sample:
    """One image, image series or scan of a dataset.

    ``key`` is the sample's identity as a string (unique in its dataset); ``source_id``
    keeps the id as the dataset spells it (COCO ``image_id`` may be int or str).
    ``media`` is the main media file (image, scan, series), ``label_files`` the files the
    label is read from; both are for display and provenance, loading goes through the
    loaders.
    """

    key: str
    media: Path | None = None
    label_files: tuple[Path, ...] = ()
    source_id: int | str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    label_loader: Callable[[], PanopticLabel] | None = field(default=None, repr=False)
    media_loader: Callable[[], NDArray[Any]] | None = field(default=None, repr=False)

    @property
    def has_label(self) -> bool:
        """Whether this sample has a label to load."""
        return self.label_loader is not None

    def load_label(self) -> PanopticLabel:
        """Read and decode this sample's label."""
        if self.label_loader is None:
            raise MissingFileError(f"sample {self.key!r} has no label")
        return self.label_loader()

    def load_media(self) -> NDArray[Any]:
        """Read and decode this sample's media (image (H, W, 3), series, or points)."""
        if self.media_loader is None:
            where = f" (expected at {self.media})" if self.media else ""
            raise MissingFileError(f"sample {self.key!r} has no media to load{where}")
        return self.media_loader()
