"""The Python SDK of the labeling server (``pip install 'panokit[sdk]'``).

from panokit.sdk import Client
client = Client("http://127.0.0.1:8000", token)
record = client.get_label(sample_id)          # record.label is a PanopticImage
client.put_label(sample_id, edited, base_revision=record.revision)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from panokit.errors import require

if TYPE_CHECKING:
    from panokit.sdk.client import Client, LabelRecord, UploadReport

__all__ = ["Client", "LabelRecord", "UploadReport"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        require("httpx", "sdk", "the labeling server SDK")
        require("pydantic", "sdk", "the labeling server SDK")
        from panokit.sdk import client

        return getattr(client, name)
    raise AttributeError(f"module 'panokit.sdk' has no attribute {name!r}")
