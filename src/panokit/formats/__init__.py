"""Dataset formats: a lazy registry (see :mod:`panokit.formats.registry`)."""

from panokit.formats.registry import FORMATS, FormatSpec, detect_format, get_format

__all__ = ["FORMATS", "FormatSpec", "detect_format", "get_format"]
