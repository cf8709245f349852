"""Load benchmark of the labeling server on loopback (bounded; nothing leaves the machine).

Starts ``panokit serve`` in a subprocess on 127.0.0.1 over a fresh data folder (SQLite by
default, ``--db postgresql://...`` for PostgreSQL; the schema is dropped and recreated),
then measures through the SDK:

1. saving a 2 MP label (client encode + upload + server decode/validate/store): p95 < 150 ms;
2. listing a 100k-sample dataset page by page: p95 < 50 ms per page;
3. 20 clients each saving 50 labels to their own samples while 10 more fight over a few
   shared samples: every save lands or gets 409, none is lost, final revisions add up.

Usage::

    python bench/server_load.py            # full sizes
    python bench/server_load.py --quick    # small sizes while developing
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from panokit.core.label import PanopticImage, Segment
from panokit.core.taxonomy import Category, Taxonomy

TAXONOMY = Taxonomy(
    [Category(1, "thing", True, (200, 0, 0)), Category(2, "stuff", False, (0, 200, 0))],
    name="bench",
)


def make_label(height: int, width: int, blobs: int, seed: int) -> PanopticImage:
    """Stuff background plus ``blobs`` rectangular things."""
    rng = np.random.default_rng(seed)
    ids = np.ones((height, width), dtype=np.uint32)
    segments = {1: Segment(2)}
    for k in range(blobs):
        h, w = (
            int(rng.integers(height // 20, height // 6)),
            int(rng.integers(width // 20, width // 6)),
        )
        y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
        ids[y : y + h, x : x + w] = k + 2
    present = set(np.unique(ids).tolist())
    for k in range(blobs):
        if k + 2 in present:
            segments[k + 2] = Segment(1)
    return PanopticImage(ids, segments, TAXONOMY)


def png_bytes(height: int, width: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 90, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def p95(values: list[float]) -> float:
    return float(np.percentile(np.asarray(values), 95))


def summary(name: str, values_ms: list[float], budget: float) -> bool:
    arr = np.asarray(values_ms)
    ok = p95(values_ms) < budget
    print(
        f"{name:<34} n={len(arr):>5}  median {np.median(arr):7.1f} ms  p95 {p95(values_ms):7.1f} ms"
        f"  max {arr.max():7.1f} ms  budget p95 < {budget:.0f} ms  {'OK' if ok else 'OVER'}"
    )
    return ok


def prepare(
    data: Path,
    db_url: str | None,
    list_samples: int,
    label_samples: int,
    label_size: tuple[int, int],
    fight_samples: int,
    writers: int,
    fight_size: tuple[int, int],
) -> dict[str, Any]:
    """Create the admin, datasets and samples directly in the database (fast bulk insert)."""
    from sqlalchemy import insert

    from panokit.api.schemas import DatasetCreate, UserCreate
    from panokit.server.app import build_context
    from panokit.server.models import Base, SampleRow
    from panokit.server.services import datasets, samples, users
    from panokit.server.services.common import Actor
    from panokit.server.settings import Settings

    settings = Settings(data_dir=data, database_url=db_url, workers=0, superpixels=False)
    if db_url:
        from sqlalchemy import create_engine

        engine = create_engine(settings.db_url)
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        engine.dispose()
    ctx = build_context(settings)
    admin = users.create_user(
        ctx, UserCreate(username="bench", password="bench-password", is_admin=True), None
    )
    token = users.issue_token(ctx, admin.id, "bench").token
    actor = Actor(admin.id, "bench", True)
    cats = TAXONOMY.to_list()
    big = datasets.create_dataset(ctx, actor, DatasetCreate(name="listing", categories=cats))
    media = ctx.store.put(png_bytes(4, 4))
    started = time.perf_counter()
    with ctx.db.write() as session:
        batch = 20000
        for start in range(0, list_samples, batch):
            rows = [
                {
                    "dataset_id": big.id,
                    "name": f"img_{i:07d}.jpg",
                    "split": "train",
                    "tags_json": "[]",
                    "media_sha256": media,
                    "media_type": "image/png",
                    "width": 4,
                    "height": 4,
                    "status": "unlabeled",
                    "label_revision": 0,
                    "superpixels_status": "none",
                }
                for i in range(start, min(start + batch, list_samples))
            ]
            session.execute(insert(SampleRow), rows)
    if db_url:
        # a bulk insert outruns autovacuum: refresh the planner's statistics as it would
        with ctx.db.write_engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    print(f"inserted {list_samples} samples in {time.perf_counter() - started:.1f} s")
    work = datasets.create_dataset(ctx, actor, DatasetCreate(name="labels", categories=cats))
    h, w = label_size
    big_png = png_bytes(h, w)
    two_mp = [
        samples.upload_sample(ctx, actor, work.id, big_png, f"big_{i}.png").id
        for i in range(label_samples)
    ]
    fh, fw = fight_size
    small = png_bytes(fh, fw)
    own = [
        [samples.upload_sample(ctx, actor, work.id, small, f"own_{c}_{i}.png").id for i in range(5)]
        for c in range(writers)
    ]
    shared = [
        samples.upload_sample(ctx, actor, work.id, small, f"shared_{i}.png").id
        for i in range(fight_samples)
    ]
    ctx.db.dispose()
    return {"token": token, "big": big.id, "two_mp": two_mp, "own": own, "shared": shared}


def start_server(data: Path, db_url: str | None, port: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "panokit.cli.main",
        "serve",
        "--data",
        str(data),
        "--port",
        str(port),
        "--no-superpixels",
        "--workers",
        "0",
    ]
    if db_url:
        cmd += ["--db", db_url]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/info", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
    proc.kill()
    raise SystemExit("server did not start within 60 s")


def bench_save(
    url: str, token: str, sample_ids: list[int], label_size: tuple[int, int], rounds: int
) -> list[float]:
    from panokit.sdk import Client

    client = Client(url, token)
    h, w = label_size
    labels = [make_label(h, w, blobs=40, seed=s) for s in range(4)]
    from panokit.api.convert import label_to_wire

    label_to_wire(labels[0])  # warm-up (imports)
    encode = []
    for k in range(12):
        started = time.perf_counter()
        label_to_wire(labels[k % len(labels)])
        encode.append((time.perf_counter() - started) * 1000)
    print(
        f"  (client-side PNG encoding of one label: min {min(encode):.1f} ms, "
        f"median {np.median(encode):.1f} ms)"
    )
    times = []
    revisions = dict.fromkeys(sample_ids, 0)
    for r in range(rounds):
        sid = sample_ids[r % len(sample_ids)]
        started = time.perf_counter()
        out = client.put_label(sid, labels[r % len(labels)], base_revision=revisions[sid])
        times.append((time.perf_counter() - started) * 1000)
        revisions[sid] = out.revision
    # the server's share: the same saves with the PNG already encoded
    wires = [label_to_wire(lab) for lab in labels]
    server_times = []
    for r in range(rounds):
        sid = sample_ids[r % len(sample_ids)]
        png, table = wires[r % len(wires)]
        files = {
            "png": ("label.png", png, "image/png"),
            "segments": ("segments.json", table.encode(), "application/json"),
        }
        started = time.perf_counter()
        response = client.request(
            "PUT",
            f"/samples/{sid}/label",
            files=files,
            data={"base_revision": str(revisions[sid])},
            retry=False,
        )
        server_times.append((time.perf_counter() - started) * 1000)
        revisions[sid] = response.json()["revision"]
    summary("  of which HTTP + server (pre-encoded)", server_times[2:], float("inf"))
    client.close()
    return times


def bench_list(
    url: str, token: str, dataset_id: int, page_size: int, max_pages: int
) -> tuple[list[float], int]:
    from panokit.sdk import Client

    client = Client(url, token)
    client.samples_page(dataset_id, limit=page_size)  # warm-up: the app prepares its routes
    times = []
    cursor = None
    seen = 0
    for _ in range(max_pages):
        started = time.perf_counter()
        page = client.samples_page(dataset_id, cursor=cursor, limit=page_size)
        times.append((time.perf_counter() - started) * 1000)
        seen += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    client.close()
    return times, seen


def bench_fight(
    url: str,
    token: str,
    own: list[list[int]],
    shared: list[int],
    saves: int,
    fighters: int,
    fight_size: tuple[int, int],
) -> bool:
    from panokit.errors import ConflictError
    from panokit.sdk import Client

    h, w = fight_size
    label = make_label(h, w, blobs=5, seed=1)
    landed: Counter[int] = Counter()
    conflicts = Counter[str]()
    other_errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(own) + fighters)
    times: list[float] = []

    def writer(sample_ids: list[int]) -> None:
        """Saves ``saves`` labels round-robin over this client's own samples."""
        client = Client(url, token, timeout=120)
        base = dict.fromkeys(sample_ids, 0)
        barrier.wait()
        for k in range(saves):
            sample_id = sample_ids[k % len(sample_ids)]
            try:
                started = time.perf_counter()
                out = client.put_label(sample_id, label, base_revision=base[sample_id])
                base[sample_id] = out.revision
                with lock:
                    landed[sample_id] += 1
                    times.append((time.perf_counter() - started) * 1000)
            except Exception as exc:
                with lock:
                    other_errors.append(f"writer {sample_id}: {exc!r}")
        client.close()

    def fighter(index: int) -> None:
        client = Client(url, token, timeout=120)
        barrier.wait()
        for k in range(saves):
            sid = shared[(index + k) % len(shared)]
            try:
                base = client.sample(sid).label_revision
                client.put_label(sid, label, base_revision=base)
                with lock:
                    landed[sid] += 1
            except ConflictError:
                with lock:
                    conflicts["409"] += 1
            except Exception as exc:
                with lock:
                    other_errors.append(f"fighter {index}: {exc!r}")
        client.close()

    threads = [threading.Thread(target=writer, args=(ids,)) for ids in own]
    threads += [threading.Thread(target=fighter, args=(i,)) for i in range(fighters)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    elapsed = time.perf_counter() - started
    client = Client(url, token)
    ok = not other_errors
    own_total = 0
    for ids in own:
        for k, sid in enumerate(ids):
            expected = len(range(k, saves, len(ids)))  # saves that went to this sample
            revision = client.sample(sid).label_revision
            history = client.label_history(sid)
            ok &= revision == expected == landed[sid] == len(history)
            ok &= [h.revision for h in history] == list(range(1, revision + 1))
            own_total += revision
    shared_total = 0
    for sid in shared:
        revision = client.sample(sid).label_revision
        history = client.label_history(sid)
        ok &= revision == landed[sid] == len(history)
        ok &= [h.revision for h in history] == list(range(1, revision + 1))
        shared_total += revision
    attempts = fighters * saves
    ok &= shared_total + conflicts["409"] == attempts
    client.close()
    total_landed = sum(landed.values())
    print(
        f"concurrency: {len(own)} writers x {saves} saves on {len(own[0])} own samples each + "
        f"{fighters} fighters x {saves} on {len(shared)} shared samples in {elapsed:.1f} s ({total_landed / elapsed:.0f} saves/s)"
    )
    print(
        f"  own samples: {own_total} revisions from {len(own) * saves} saves; "
        f"shared: {shared_total} landed + {conflicts['409']} got 409 = {attempts} attempts; "
        f"other errors: {len(other_errors)}"
    )
    if times:
        summary("  save under contention", times, float("inf"))
    for line in other_errors[:5]:
        print("  ", line)
    print(
        f"  every save landed or got 409, none lost, revisions add up: {'OK' if ok else 'FAILED'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes while developing")
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--samples", type=int, help="samples in the listing dataset")
    parser.add_argument(
        "--parts", default="save,list,fight", help="which measurements to run (comma-separated)"
    )
    args = parser.parse_args()
    quick = args.quick
    list_samples = args.samples or (5_000 if quick else 100_000)
    label_size = (600, 800) if quick else (1200, 1700)  # 0.5 MP / 2.04 MP
    save_rounds = 10 if quick else 40
    writers, fighters, saves = (4, 2, 10) if quick else (20, 10, 50)
    fight_size = (64, 64) if quick else (256, 256)
    data = Path(tempfile.mkdtemp(prefix="panokit-bench-"))
    port = free_port()
    print(
        f"panokit server load benchmark ({'quick' if quick else 'full'}), data in {data}, "
        f"db {'SQLite' if not args.db else args.db}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    info = prepare(data, args.db, list_samples, 3, label_size, 3, writers, fight_size)
    proc = start_server(data, args.db, port)
    url = f"http://127.0.0.1:{port}"
    ok = True
    try:
        parts = set(args.parts.split(","))
        if "save" in parts:
            times = bench_save(url, info["token"], info["two_mp"], label_size, save_rounds)
            mp = label_size[0] * label_size[1] / 1e6
            ok &= summary(f"save a {mp:.2f} MP label", times[2:], 150.0)
        if "list" in parts:
            times, seen = bench_list(url, info["token"], info["big"], 100, 2000)
            ok &= summary(f"list {seen} samples, 100 per page", times, 50.0)
        if "fight" in parts:
            ok &= bench_fight(
                url, info["token"], info["own"], info["shared"], saves, fighters, fight_size
            )
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
