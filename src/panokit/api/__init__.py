"""Wire schemas shared by the labeling server and the SDK, and core <-> wire converters.

Pydantic at the edges, numpy in the middle: no wire model holds a per-pixel list.  A label
travels as a segment-id PNG (RGB24, as in COCO panoptic) plus a JSON segment table.
``panokit.api.convert`` needs only numpy and Pillow; ``panokit.api.schemas`` needs
pydantic (installed with the ``server`` or ``sdk`` extra).
"""

API_PREFIX = "/api/v1"
"""Every REST route lives under this prefix."""

__all__ = ["API_PREFIX"]
