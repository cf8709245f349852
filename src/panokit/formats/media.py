"""Loading the media (images) that samples point at, shared by the image formats."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from panokit.errors import FormatError, MissingFileError


def read_rgb(path: Path) -> NDArray[np.uint8]:
    """Decode an image file as (H, W, 3) uint8 RGB."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise MissingFileError(f"image not found: {path}") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot decode image ({exc})") from None


def image_loader(path: Path) -> Callable[[], NDArray[Any]]:
    """A loader that decodes ``path`` as RGB when called (nothing is opened before)."""

    def load() -> NDArray[Any]:
        return read_rgb(path)

    return load
