"""``panokit serve --demo``: a small generated dataset with ground truth and one admin.

The images are drawn here (sky and road gradients with noise, cars as boxes, people as
ellipses), so the demo needs no download.  The first samples get their ground truth as
accepted labels (and a release), the rest carry it as prelabels, waiting for a labeler.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select

from panokit.api.convert import encode_ids_png, segments_json
from panokit.api.schemas import DatasetCreate, ReleaseCreate, UserCreate
from panokit.core.label import PanopticImage, Segment
from panokit.core.taxonomy import Category, Taxonomy
from panokit.server.models import Dataset, User
from panokit.server.security import new_password
from panokit.server.services import datasets, labels, releases, samples, users, workflow
from panokit.server.services.common import Actor, Context

DEMO_DATASET = "demo-streets"
DEMO_ADMIN = "admin"

DEMO_TAXONOMY = Taxonomy(
    [
        Category(1, "person", True, (220, 20, 60)),
        Category(2, "car", True, (0, 0, 142)),
        Category(3, "road", False, (128, 64, 128)),
        Category(4, "sky", False, (70, 130, 180)),
        Category(5, "building", False, (70, 70, 70)),
    ],
    name=DEMO_DATASET,
)


@dataclass(frozen=True)
class DemoInfo:
    """What the demo set-up made; ``password`` is None when the admin already existed."""

    username: str
    password: str | None
    dataset_id: int
    samples: int
    created: bool


def demo_scene(
    seed: int, width: int = 320, height: int = 240
) -> tuple[NDArray[np.uint8], PanopticImage]:
    """One generated street scene and its ground truth."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((height, width), dtype=np.uint32)
    horizon = int(height * rng.uniform(0.4, 0.55))
    ids[:horizon] = 1  # sky
    ids[horizon:] = 2  # road
    segments: dict[int, Segment] = {1: Segment(4), 2: Segment(3)}
    next_id = 3
    ys, xs = np.mgrid[0:height, 0:width]
    # buildings on the horizon
    building_id = next_id
    next_id += 1
    segments[building_id] = Segment(5)
    x = 0
    while x < width:
        w = int(rng.integers(max(2, width // 10), max(3, width // 4)))
        h = int(rng.integers(max(1, horizon // 6), max(2, horizon - 2)))
        ids[horizon - h : horizon, x : x + w] = building_id
        x += w + int(rng.integers(1, max(2, width // 8)))
    for _ in range(int(rng.integers(1, 4))):
        w = int(rng.integers(max(2, width // 8), max(3, width // 4)))
        h = int(rng.integers(max(2, height // 12), max(3, height // 6)))
        x0 = int(rng.integers(0, width - w))
        y0 = int(rng.integers(horizon, height - h))
        ids[y0 : y0 + h, x0 : x0 + w] = next_id
        segments[next_id] = Segment(2)
        next_id += 1
    for _ in range(int(rng.integers(1, 4))):
        rx = max(1, int(rng.integers(width // 64 + 1, width // 32 + 2)))
        ry = max(2, int(rng.integers(height // 16 + 1, height // 10 + 2)))
        cx = int(rng.integers(rx, width - rx))
        cy = int(rng.integers(max(ry, horizon - ry), height - ry))
        inside = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
        ids[inside] = next_id
        segments[next_id] = Segment(1)
        next_id += 1
    present = set(np.unique(ids).tolist())
    segments = {k: v for k, v in segments.items() if k in present}
    colors = np.zeros((next_id, 3), dtype=np.float64)
    for seg_id, seg in segments.items():
        base = np.array(DEMO_TAXONOMY[seg.category_id].color, dtype=np.float64)
        colors[seg_id] = np.clip(base + rng.normal(0, 25, 3), 0, 255)
    image = colors[ids]
    shade = np.linspace(0.8, 1.1, height)[:, None, None]
    image = image * shade + rng.normal(0, 8, image.shape)
    rgb = np.clip(image, 0, 255).astype(np.uint8)
    return rgb, PanopticImage(ids, segments, DEMO_TAXONOMY)


def _png(rgb: NDArray[np.uint8]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def make_demo(ctx: Context, count: int = 12, accepted: int = 3) -> DemoInfo:
    """Create the demo admin (with a one-time password) and dataset, unless present."""
    with ctx.db.read() as session:
        admin = session.scalar(select(User).where(User.username == DEMO_ADMIN))
        existing = session.scalar(select(Dataset).where(Dataset.name == DEMO_DATASET))
    password: str | None = None
    if admin is None:
        password = new_password()
        made = users.create_user(
            ctx, UserCreate(username=DEMO_ADMIN, password=password, is_admin=True), None
        )
        actor = Actor(made.id, made.username, True)
    else:
        actor = Actor(admin.id, admin.username, admin.is_admin)
    if existing is not None:
        return DemoInfo(actor.username, password, existing.id, 0, False)
    dataset = datasets.create_dataset(
        ctx,
        actor,
        DatasetCreate(
            name=DEMO_DATASET,
            categories=DEMO_TAXONOMY.to_list(),
            description="generated street scenes with ground truth (panokit serve --demo)",
        ),
    )
    for index in range(count):
        rgb, truth = demo_scene(seed=index)
        sample = samples.upload_sample(
            ctx,
            actor,
            dataset.id,
            _png(rgb),
            name=f"scene_{index:03d}.png",
            split="train" if index % 4 else "val",
            tags=["demo"],
        )
        png, table = encode_ids_png(truth.ids), segments_json(truth.segments)
        if index < accepted:
            labels.save_label(ctx, actor, sample.id, png, table, base_revision=0)
            workflow.submit(ctx, actor, sample.id)
            workflow.review(ctx, actor, sample.id, accept=True, comment="ground truth")
        else:
            labels.upload_prelabel(ctx, actor, sample.id, png, table, "ground-truth", 1.0)
    releases.create_release(
        ctx,
        actor,
        dataset.id,
        ReleaseCreate(name="demo-v1", description="the accepted demo labels"),
    )
    return DemoInfo(actor.username, password, dataset.id, count, True)
