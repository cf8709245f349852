"""Background jobs: superpixel hierarchies after upload, release exports.

Jobs are rows (status, progress) so that any request can report on them; an in-process
worker thread runs them in order.  At start, jobs left queued or running by a crash are
queued again.  An export is built in a staging folder inside the blob store, zipped,
and moved into the store in one rename: a download is never half-written.
"""

from __future__ import annotations

import io
import json
import queue
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, update

from panokit.api.convert import engine_attr
from panokit.errors import PanokitError
from panokit.server.models import Job, LabelRevision, Release, ReleaseItem, SampleRow, utcnow
from panokit.server.services.common import Context

_STOP = -1


class JobRunner:
    """Runs queued jobs on ``workers`` threads (0: only when :meth:`run_pending` is called)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._queue: queue.Queue[int] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._ctx: Context | None = None
        self._idle = threading.Condition()
        self._busy = 0

    def bind(self, ctx: Context) -> None:
        """Attach the server context (done by the app factory)."""
        self._ctx = ctx

    def start(self) -> None:
        """Re-queue unfinished jobs and start the worker threads."""
        ctx = self._require()
        with ctx.db.write() as session:
            session.execute(update(Job).where(Job.status == "running").values(status="queued"))
            pending = list(
                session.scalars(select(Job.id).where(Job.status == "queued").order_by(Job.id))
            )
        for job_id in pending:
            self._queue.put(job_id)
        for index in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"panokit-job-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the worker threads after the job at hand."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    def submit(self, job_id: int) -> None:
        """Queue a job (its row exists and is committed)."""
        self._queue.put(job_id)

    def run_pending(self) -> int:
        """Run every queued job in this thread; returns how many ran."""
        count = 0
        while True:
            try:
                job_id = self._queue.get_nowait()
            except queue.Empty:
                return count
            if job_id != _STOP:
                self.run(job_id)
                count += 1

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until the queue is empty and no job runs (threads mode)."""
        if not self._threads:
            self.run_pending()
            return True
        with self._idle:
            return self._idle.wait_for(
                lambda: self._queue.unfinished_tasks == 0 and self._busy == 0, timeout
            )

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            try:
                if job_id == _STOP:
                    return
                with self._idle:
                    self._busy += 1
                self.run(job_id)
            finally:
                self._queue.task_done()
                with self._idle:
                    if job_id != _STOP:
                        self._busy -= 1
                    self._idle.notify_all()

    def _require(self) -> Context:
        if self._ctx is None:
            raise RuntimeError("JobRunner.bind(ctx) was not called")
        return self._ctx

    def run(self, job_id: int) -> None:
        """Run one job now (claims it: queued -> running; a job runs once)."""
        ctx = self._require()
        with ctx.db.write() as session:
            claimed = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(status="running")
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return
            job = session.get(Job, job_id)
            if job is None:  # pragma: no cover
                return
            kind = job.kind
        handler: Callable[[Context, int], str] = {
            "superpixels": run_superpixels,
            "export": run_export,
        }.get(kind, _unknown)
        try:
            message = handler(ctx, job_id)
            status = "done"
        except Exception as exc:  # a failed job is reported, never crashes the worker
            message = f"{type(exc).__name__}: {exc}"
            status = "failed"
            if kind == "superpixels":
                _set_superpixels(ctx, job_id, "failed", None)
        with ctx.db.write() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(status=status, message=message[:2000], finished_at=utcnow())
            )


def _unknown(ctx: Context, job_id: int) -> str:
    raise PanokitError(f"job {job_id} has an unknown kind")


def _progress(ctx: Context, job_id: int, done: int, total: int) -> None:
    with ctx.db.write() as session:
        session.execute(update(Job).where(Job.id == job_id).values(done=done, total=total))


def _set_superpixels(ctx: Context, job_id: int, status: str, key: str | None) -> None:
    with ctx.db.write() as session:
        sample_id = session.scalar(select(Job.sample_id).where(Job.id == job_id))
        if sample_id is not None:
            session.execute(
                update(SampleRow)
                .where(SampleRow.id == sample_id)
                .values(superpixels_status=status, superpixels_key=key)
            )


def run_superpixels(ctx: Context, job_id: int) -> str:
    """Compute a sample's superpixel hierarchy with ``panokit.annotate`` and store it."""
    import numpy as np
    from PIL import Image

    with ctx.db.read() as session:
        job = session.get(Job, job_id)
        sample = session.get(SampleRow, job.sample_id) if job and job.sample_id else None
        if sample is None:
            return "sample is gone"
        media_key = sample.media_sha256
    try:
        build_superpixel_hierarchy = engine_attr("build_superpixel_hierarchy")
    except ImportError as exc:
        _set_superpixels(ctx, job_id, "unavailable", None)
        return f"panokit.annotate is not available: {exc}"
    with Image.open(io.BytesIO(ctx.store.get(media_key))) as image:
        rgb = np.asarray(image.convert("RGB"))
    _progress(ctx, job_id, 0, 1)
    hierarchy = build_superpixel_hierarchy(rgb)
    key = ctx.store.put(hierarchy.to_bytes())
    _set_superpixels(ctx, job_id, "ready", key)
    _progress(ctx, job_id, 1, 1)
    levels = getattr(hierarchy, "levels", None)
    return f"levels {list(levels) if levels is not None else '?'}"


def _safe_stem(name: str) -> str:
    stem = name.rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).strip("._")
    return cleaned or "sample"


def _safe_split(split: str) -> str:
    """A split as one folder name (never ``..`` or a path)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in split).strip("._")


_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
}


def run_export(ctx: Context, job_id: int) -> str:
    """Write a release in a panokit format, zip it, and move the zip into the store."""
    import panokit
    from panokit.api.convert import decode_ids_png, parse_segments_json
    from panokit.core.label import PanopticImage
    from panokit.core.sample import Sample
    from panokit.core.taxonomy import Taxonomy
    from panokit.dataset import PanopticDataset

    with ctx.db.read() as session:
        job = session.get(Job, job_id)
        if job is None or job.release_id is None:
            raise PanokitError(f"export job {job_id} has no release")
        params = json.loads(job.params_json)
        release = session.get(Release, job.release_id)
        if release is None:
            raise PanokitError(f"release {job.release_id} is gone")
        rows = session.execute(
            select(
                SampleRow.id,
                SampleRow.name,
                SampleRow.media_sha256,
                SampleRow.media_type,
                SampleRow.split,
                LabelRevision.png_key,
                LabelRevision.segments_json,
            )
            .join(ReleaseItem, ReleaseItem.sample_id == SampleRow.id)
            .join(LabelRevision, LabelRevision.id == ReleaseItem.label_revision_id)
            .where(ReleaseItem.release_id == release.id)
            .order_by(SampleRow.id)
        ).all()
        taxonomy = Taxonomy.from_list(json.loads(release.categories_json), name=release.name)
        release_name = release.name
    fmt = str(params.get("format", "coco-panoptic"))
    include_media = bool(params.get("include_media", True))
    total = len(rows)
    _progress(ctx, job_id, 0, total)
    counter = {"done": 0}

    def loader(png_key: str, text: str) -> Callable[[], PanopticImage]:
        def load() -> PanopticImage:
            label = PanopticImage(
                decode_ids_png(ctx.store.get(png_key)), parse_segments_json(text), taxonomy
            )
            counter["done"] += 1
            if counter["done"] % 20 == 0 or counter["done"] == total:
                _progress(ctx, job_id, counter["done"], total)
            return label

        return load

    with ctx.store.staging_dir() as staging:
        out_dir = staging / "export"
        media_dir = out_dir / "images"
        samples: list[Sample] = []
        used: set[str] = set()
        media_files: list[tuple[str, str]] = []
        for sid, name, media_key, media_type, split, png_key, text in rows:
            stem = _safe_stem(name)
            if stem in used:
                stem = f"{stem}_{sid}"
            used.add(stem)
            media_name = stem + _EXTENSIONS.get(media_type, ".img")
            media_files.append((media_key, media_name))
            # writers make paths from keys and splits: both are safe tokens here, the
            # sample's own name stays in meta
            samples.append(
                Sample(
                    key=stem,
                    source_id=int(sid),
                    meta={
                        "file_name": f"{stem}.png",
                        "image": {"file_name": media_name},
                        "split": _safe_split(split),
                        "name": name,
                    },
                    label_loader=loader(png_key, text),
                )
            )
        dataset = PanopticDataset(
            samples, taxonomy, format="panokit-server", meta={"json_stem": release_name}
        )
        panokit.write(dataset, out_dir, format=fmt)
        if include_media:
            media_dir.mkdir(exist_ok=True)
            for media_key, media_name in media_files:
                (media_dir / media_name).write_bytes(ctx.store.get(media_key))
        archive = staging / "export.zip"
        _zip_dir(out_dir, archive)
        key = ctx.store.put_file(archive)
    with ctx.db.write() as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(result_key=key, done=total, total=total)
        )
    return f"exported {total} samples as {fmt}"


def _zip_dir(folder: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
