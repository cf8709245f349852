"""The typed Python client of the labeling server.

Methods return core types (``PanopticImage``, ``Taxonomy``) or the wire models of
``panokit.api.schemas``, and raise the library's exceptions: a stale save raises
:class:`panokit.errors.ConflictError` with ``details["current_revision"]``, a bad label
:class:`panokit.errors.ValidationError` with ``problems``, and so on.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel

from panokit.api import API_PREFIX
from panokit.api.convert import decode_ids_png, engine_attr, label_to_wire
from panokit.api.errors import WIRE_ERRORS
from panokit.api.schemas import (
    CommentOut,
    DatasetOut,
    HashAnswer,
    JobOut,
    LabelOut,
    MemberOut,
    Page,
    PrelabelOut,
    ReleaseItemOut,
    ReleaseOut,
    SampleOut,
    ServerInfo,
    TokenOut,
    UserOut,
)
from panokit.core.label import PanopticImage, PanopticLabel, Segment
from panokit.core.taxonomy import Taxonomy
from panokit.errors import (
    ConflictError,
    InvalidRequestError,
    LabelError,
    MissingExtraError,
    NotFoundError,
    PanokitError,
    RemoteError,
    ServiceError,
    TaxonomyError,
    ValidationError,
)

if TYPE_CHECKING:
    from panokit.dataset import PanopticDataset

M = TypeVar("M", bound=BaseModel)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")

_SERVICE_ERRORS: dict[str, type[ServiceError]] = {
    code: cls for cls, _, code in WIRE_ERRORS if issubclass(cls, ServiceError)
}
_PLAIN_ERRORS: dict[str, type[PanokitError]] = {
    code: cls
    for cls, _, code in WIRE_ERRORS
    if not issubclass(cls, (ServiceError, ValidationError, MissingExtraError))
}


def raise_for_error(response: httpx.Response) -> None:
    """Turn an error response into the panokit exception it stands for."""
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
        details = dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        code, message, details = "remote_error", response.text[:500], {}
    details.setdefault("status", response.status_code)
    if code in _SERVICE_ERRORS:
        raise _SERVICE_ERRORS[code](message, details)
    if code == "validation_error":
        raise ValidationError(details.get("problems") or [message], where=details.get("where", ""))
    if code in _PLAIN_ERRORS:
        raise _PLAIN_ERRORS[code](message)
    if code == "request_invalid":
        raise InvalidRequestError(message, details)
    if code == "missing_extra":
        raise RemoteError(message, details)
    raise RemoteError(f"server answered {response.status_code}: {message}", details)


@dataclass(frozen=True)
class LabelRecord:
    """A label as stored on the server: the label itself and its revision."""

    label: PanopticImage
    revision: int
    author: str | None
    source: str


@dataclass
class UploadReport:
    """What :meth:`Client.upload_folder` did."""

    uploaded: list[SampleOut] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    """File name -> existing sample id (same content already in the dataset)."""
    failed: dict[str, str] = field(default_factory=dict)
    """File name -> the error that stopped it after every retry."""

    def __str__(self) -> str:
        text = (
            f"{len(self.uploaded)} uploaded, {len(self.skipped)} already there, "
            f"{len(self.failed)} failed"
        )
        return text + "".join(f"\n  {name}: {why}" for name, why in self.failed.items())


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json")


class Client:
    """A session with a labeling server.

    ``Client("http://127.0.0.1:8000", token)``; pass ``http=`` an ``httpx.Client`` (for
    example FastAPI's ``TestClient(app)``) to talk to an in-process app.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.retries = retries
        self.backoff = backoff
        self._own_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._taxonomies: dict[int, Taxonomy] = {}

    # ---------------------------------------------------------------------- plumbing
    def close(self) -> None:
        """Close the connection pool (if this client made it)."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(
        self, method: str, path: str, *, retry: bool | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send a request to ``/api/v1{path}``; errors become panokit exceptions.

        Idempotent methods (GET, PUT, DELETE) are retried on connection errors and 502-504.
        """
        if retry is None:
            retry = method in ("GET", "PUT", "DELETE", "HEAD")
        attempts = self.retries + 1 if retry else 1
        url = f"{self.url}{API_PREFIX}{path}"
        last: Exception | None = None
        for attempt in range(attempts):
            try:
                response = self._http.request(method, url, headers=self._headers(), **kwargs)
            except httpx.TransportError as exc:
                last = exc
            else:
                if response.status_code not in (502, 503, 504) or attempt == attempts - 1:
                    raise_for_error(response)
                    return response
                last = RemoteError(f"server answered {response.status_code}")
            if attempt < attempts - 1:
                time.sleep(self.backoff * (2**attempt))
        raise RemoteError(f"{method} {url} failed after {attempts} attempts: {last}")

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        clean = {k: v for k, v in params.items() if v is not None}
        return model.model_validate(self.request("GET", path, params=clean).json())

    def _list(self, path: str, model: type[M], **params: Any) -> list[M]:
        clean = {k: v for k, v in params.items() if v is not None}
        return [model.model_validate(x) for x in self.request("GET", path, params=clean).json()]

    def _pages(self, path: str, model: type[M], page_size: int, **params: Any) -> Iterator[M]:
        cursor: str | None = None
        while True:
            query = {k: v for k, v in params.items() if v is not None}
            query["limit"] = page_size
            if cursor:
                query["cursor"] = cursor
            page = Page[model].model_validate(  # type: ignore[valid-type]
                self.request("GET", path, params=query).json()
            )
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    # ------------------------------------------------------------------ server, users
    @classmethod
    def login(
        cls, url: str, username: str, password: str, *, http: httpx.Client | None = None
    ) -> Client:
        """A client holding a fresh token made from a user name and password."""
        client = cls(url, None, http=http)
        response = client.request(
            "POST", "/auth/login", json={"username": username, "password": password}
        )
        client.token = TokenOut.model_validate(response.json()).token
        return client

    def info(self) -> ServerInfo:
        """Server version, limits and export formats."""
        return self._get("/info", ServerInfo)

    def me(self) -> UserOut:
        """The user this client acts as."""
        return self._get("/users/me", UserOut)

    def create_user(self, username: str, password: str, is_admin: bool = False) -> UserOut:
        """Create a user (server admins)."""
        body = {"username": username, "password": password, "is_admin": is_admin}
        return UserOut.model_validate(self.request("POST", "/users", json=body).json())

    def users(self) -> list[UserOut]:
        """Every user (server admins)."""
        return self._list("/users", UserOut)

    def create_token(self, name: str = "api") -> TokenOut:
        """A new token for this user (``.token`` holds the secret, shown once)."""
        return TokenOut.model_validate(self.request("POST", "/tokens", json={"name": name}).json())

    def tokens(self) -> list[TokenOut]:
        """This user's tokens."""
        return self._list("/tokens", TokenOut)

    def change_password(self, password: str, new_password: str) -> TokenOut:
        """Change your password; the server revokes all your tokens, and this client
        switches to the new one it returns."""
        body = {"password": password, "new_password": new_password}
        out = TokenOut.model_validate(self.request("POST", "/users/me/password", json=body).json())
        self.token = out.token
        return out

    def revoke_token(self, token_id: int) -> TokenOut:
        """Revoke a token."""
        return TokenOut.model_validate(self.request("DELETE", f"/tokens/{token_id}").json())

    # ----------------------------------------------------------------------- datasets
    def create_dataset(
        self,
        name: str,
        taxonomy: Taxonomy,
        modality: str = "image",
        description: str = "",
    ) -> DatasetOut:
        """A new dataset with this taxonomy; you become its admin."""
        body = {
            "name": name,
            "categories": taxonomy.to_list(),
            "void_id": taxonomy.void_id,
            "modality": modality,
            "description": description,
        }
        return DatasetOut.model_validate(self.request("POST", "/datasets", json=body).json())

    def create_dataset_from(
        self,
        dataset: PanopticDataset,
        name: str,
        labels_as: str | None = "prelabels",
        source: str = "import",
        progress: bool = False,
        resume: bool = False,
    ) -> DatasetOut:
        """Create a dataset from a panokit dataset: its taxonomy, every sample's media, and
        (``labels_as="prelabels"`` or ``"labels"``, or None) its labels.

        With ``resume=True`` an existing dataset of that name (same taxonomy) is continued:
        samples already there (by name) are skipped, so an interrupted import can be rerun.
        """
        if labels_as not in (None, "prelabels", "labels"):
            raise ValueError(f"labels_as must be 'prelabels', 'labels' or None, got {labels_as!r}")
        existing = [d for d in self.datasets() if d.name == name] if resume else []
        if existing:
            target = existing[0]
            remote = Taxonomy.from_list(target.categories, void_id=target.void_id, name=name)
            if remote != dataset.taxonomy:
                raise TaxonomyError(
                    f"dataset {name!r} on the server has another taxonomy than the one being "
                    "imported; pick a new name"
                )
            done = {s.name for s in self.samples(target.id)}
        else:
            target = self.create_dataset(name, dataset.taxonomy, modality=dataset.modality)
            done = set()
        todo = [s for s in dataset if s.key not in done]
        for sample in _progress(todo, progress, f"importing {name}"):
            data, filename = _media_bytes(sample)
            out = self.upload_image(
                target.id,
                data,
                name=sample.key,
                filename=filename,
                split=str(sample.meta.get("split", "") or ""),
            )
            if labels_as is None or not sample.has_label:
                continue
            label = sample.load_label()
            if not isinstance(label, PanopticImage):
                raise LabelError(f"sample {sample.key!r}: only image labels can be uploaded")
            if labels_as == "prelabels":
                self.upload_prelabel(out.id, label, source=source)
            else:
                self.put_label(out.id, label, base_revision=0)
        return self.dataset(target.id)

    def create_dataset_from_folder(
        self,
        name: str,
        taxonomy: Taxonomy,
        folder: str | Path,
        progress: bool = True,
        **upload: Any,
    ) -> tuple[DatasetOut, UploadReport]:
        """A new dataset with this taxonomy holding every image under ``folder``, in one
        call (for example a downloaded W&B artifact folder).  Rerunning it after an
        interruption continues the upload into the dataset of that name (same taxonomy).
        ``upload`` goes to :meth:`upload_folder` (split, tags, workers, ...)."""
        existing = [d for d in self.datasets() if d.name == name]
        if existing:
            target = existing[0]
            remote = Taxonomy.from_list(target.categories, void_id=target.void_id, name=name)
            if remote != taxonomy:
                raise TaxonomyError(
                    f"dataset {name!r} on the server has another taxonomy; pick a new name"
                )
        else:
            target = self.create_dataset(name, taxonomy)
        report = self.upload_folder(target.id, folder, progress=progress, **upload)
        return self.dataset(target.id), report

    def datasets(self, page_size: int = 100) -> list[DatasetOut]:
        """The datasets you belong to."""
        return list(self._pages("/datasets", DatasetOut, page_size))

    def dataset(self, dataset_id: int) -> DatasetOut:
        """One dataset with its per-status counts."""
        return self._get(f"/datasets/{dataset_id}", DatasetOut)

    def taxonomy(self, dataset_id: int) -> Taxonomy:
        """A dataset's taxonomy (cached per client)."""
        if dataset_id not in self._taxonomies:
            ds = self.dataset(dataset_id)
            self._taxonomies[dataset_id] = Taxonomy.from_list(
                ds.categories, void_id=ds.void_id, name=ds.name
            )
        return self._taxonomies[dataset_id]

    def delete_dataset(self, dataset_id: int) -> None:
        """Delete a dataset (dataset admins)."""
        self.request("DELETE", f"/datasets/{dataset_id}")

    def members(self, dataset_id: int) -> list[MemberOut]:
        """Who holds which role."""
        return self._list(f"/datasets/{dataset_id}/members", MemberOut)

    def add_member(
        self, dataset_id: int, username: str, role: str, external: bool = False
    ) -> MemberOut:
        """Give a user a role in a dataset."""
        body = {"username": username, "role": role, "external": external}
        response = self.request("PUT", f"/datasets/{dataset_id}/members", json=body)
        return MemberOut.model_validate(response.json())

    def remove_member(self, dataset_id: int, username: str) -> None:
        """Take a user's role away."""
        self.request("DELETE", f"/datasets/{dataset_id}/members/{username}")

    # ------------------------------------------------------------------------ samples
    def upload_image(
        self,
        dataset_id: int,
        image: bytes | str | Path,
        name: str | None = None,
        split: str = "",
        tags: Sequence[str] = (),
        filename: str | None = None,
    ) -> SampleOut:
        """Upload one image (bytes or a path) as a sample."""
        if isinstance(image, str | Path):
            path = Path(image)
            data = path.read_bytes()
            filename = filename or path.name
            name = name or path.name
        else:
            data = image
        if name is None:
            raise ValueError("uploading bytes needs a sample name")
        files = {"file": (filename or name, data, "application/octet-stream")}
        form = {"name": name, "split": split, "tags": ",".join(tags)}
        response = self.request(
            "POST", f"/datasets/{dataset_id}/samples", files=files, data=form, retry=False
        )
        return SampleOut.model_validate(response.json())

    def known_hashes(self, dataset_id: int, digests: Sequence[str]) -> dict[str, int]:
        """Which SHA-256 digests of media the dataset already holds (-> sample id)."""
        present: dict[str, int] = {}
        for start in range(0, len(digests), 5000):
            body = {"sha256": list(digests[start : start + 5000])}
            response = self.request("POST", f"/datasets/{dataset_id}/samples/hashes", json=body)
            present.update(HashAnswer.model_validate(response.json()).present)
        return present

    def upload_folder(
        self,
        dataset_id: int,
        folder: str | Path,
        split: str = "",
        tags: Sequence[str] = (),
        recursive: bool = True,
        progress: bool = True,
        retries: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        workers: int = 1,
    ) -> UploadReport:
        """Upload every image under ``folder`` in one call; resumable.

        Files whose content is already in the dataset (same SHA-256) are skipped, so running
        it again after an interruption uploads only what is missing.  Each file is retried
        on transport errors; if a lost response hid a successful upload, the retry's 409
        is recognised by the digest and counted as uploaded.  A name taken by other content
        is reported in ``failed``.  Sample names are paths relative to ``folder`` (with
        ``/``).  ``workers`` > 1 uploads that many files at once.
        """
        from concurrent.futures import ThreadPoolExecutor

        root = Path(folder)
        pattern = "**/*" if recursive else "*"
        files = sorted(
            p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        digests = {p: _sha256_file(p) for p in files}
        present = self.known_hashes(dataset_id, sorted(set(digests.values())))
        report = UploadReport()
        attempts = (self.retries if retries is None else retries) + 1
        todo = []
        for path in files:
            rel = path.relative_to(root).as_posix()
            if digests[path] in present:
                report.skipped[rel] = present[digests[path]]
            else:
                todo.append((path, rel))

        def one(item: tuple[Path, str]) -> tuple[str, SampleOut | int | None, str | None]:
            path, rel = item
            for attempt in range(attempts):
                try:
                    out = self.upload_image(dataset_id, path, name=rel, split=split, tags=tags)
                    return rel, out, None
                except ConflictError as exc:
                    existing = exc.details.get("sample_id")
                    if isinstance(existing, int):
                        # by either digest: the server stores EXIF-rotated JPEGs upright
                        known = self.known_hashes(dataset_id, [digests[path]])
                        same = known.get(digests[path]) == existing
                        if same:  # an earlier attempt landed; its response was lost
                            return rel, existing, None
                    return rel, None, str(exc)
                except (RemoteError, httpx.TransportError) as exc:
                    if attempt == attempts - 1:
                        return rel, None, str(exc)
                    time.sleep(self.backoff * (2**attempt))
                except ServiceError as exc:
                    return rel, None, str(exc)
            return rel, None, "no attempt made"  # pragma: no cover - attempts >= 1

        done = len(report.skipped)
        with _ProgressBar(progress and bool(todo), f"uploading {root.name}", len(todo)) as bar:
            if workers > 1:
                pool = ThreadPoolExecutor(max_workers=workers)
                results: Iterable[tuple[str, SampleOut | int | None, str | None]] = pool.map(
                    one, todo
                )
            else:
                pool = None
                results = map(one, todo)
            try:
                for rel, outcome, failure in results:
                    if isinstance(outcome, SampleOut):
                        report.uploaded.append(outcome)
                    elif isinstance(outcome, int):
                        report.skipped[rel] = outcome
                    else:
                        report.failed[rel] = failure or "failed"
                    done += 1
                    bar.advance()
                    if on_progress is not None:
                        on_progress(done, len(files))
            finally:
                if pool is not None:
                    pool.shutdown(wait=True)
        report.uploaded.sort(key=lambda s: s.name)
        return report

    def samples(
        self,
        dataset_id: int,
        status: str | None = None,
        split: str | None = None,
        assignee: str | None = None,
        name: str | None = None,
        page_size: int = 500,
    ) -> Iterator[SampleOut]:
        """Every (visible) sample of a dataset, page by page."""
        return self._pages(
            f"/datasets/{dataset_id}/samples",
            SampleOut,
            page_size,
            status=status,
            split=split,
            assignee=assignee,
            name=name,
        )

    def samples_page(
        self, dataset_id: int, cursor: str | None = None, limit: int = 100, **filters: Any
    ) -> Page[SampleOut]:
        """One page of samples (for callers that keep the cursor themselves)."""
        params = {k: v for k, v in filters.items() if v is not None}
        params["limit"] = limit
        if cursor:
            params["cursor"] = cursor
        response = self.request("GET", f"/datasets/{dataset_id}/samples", params=params)
        return Page[SampleOut].model_validate(response.json())

    def sample(self, sample_id: int) -> SampleOut:
        """One sample's metadata."""
        return self._get(f"/samples/{sample_id}", SampleOut)

    def update_sample(
        self, sample_id: int, split: str | None = None, tags: Sequence[str] | None = None
    ) -> SampleOut:
        """Change split or tags."""
        body: dict[str, Any] = {}
        if split is not None:
            body["split"] = split
        if tags is not None:
            body["tags"] = list(tags)
        response = self.request("PATCH", f"/samples/{sample_id}", json=body, retry=True)
        return SampleOut.model_validate(response.json())

    def delete_sample(self, sample_id: int) -> None:
        """Delete a sample."""
        self.request("DELETE", f"/samples/{sample_id}")

    def media(self, sample_id: int) -> bytes:
        """The sample's image file bytes."""
        return self.request("GET", f"/samples/{sample_id}/media").content

    def image(self, sample_id: int) -> Any:
        """The sample's image decoded as an (H, W, 3) uint8 array."""
        import numpy as np
        from PIL import Image

        with Image.open(io.BytesIO(self.media(sample_id))) as image:
            return np.asarray(image.convert("RGB"))

    def superpixels(self, sample_id: int) -> Any:
        """The precomputed ``panokit.annotate.SuperpixelHierarchy`` of a sample."""
        data = self.request("GET", f"/samples/{sample_id}/superpixels").content
        try:
            hierarchy_class = engine_attr("SuperpixelHierarchy")
        except ImportError as exc:  # pragma: no cover
            raise MissingExtraError("scikit-image", "annotate", "superpixels") from exc
        return hierarchy_class.from_bytes(data)

    # ------------------------------------------------------------------------- labels
    def get_label(self, sample_id: int, revision: int | None = None) -> LabelRecord:
        """A sample's label (current revision unless given) as a :class:`PanopticImage`."""
        meta = self._get(f"/samples/{sample_id}/label", LabelOut, revision=revision)
        png = self.request(
            "GET", f"/samples/{sample_id}/label/png", params={"revision": meta.revision}
        ).content
        sample = self.sample(sample_id)
        taxonomy = self.taxonomy(sample.dataset_id)
        segments = {
            s.id: Segment(s.category_id, s.iscrowd, dict(s.attributes)) for s in meta.segments
        }
        label = PanopticImage(decode_ids_png(png), segments, taxonomy)
        return LabelRecord(label, meta.revision, meta.author, meta.source)

    def put_label(self, sample_id: int, label: PanopticLabel, base_revision: int) -> LabelOut:
        """Save a label as the next revision after ``base_revision``.

        Raises :class:`ConflictError` (``details["current_revision"]``) when someone saved
        in between, and :class:`ValidationError` / :class:`LabelError` for a bad label.
        """
        if not isinstance(label, PanopticImage):
            raise LabelError(f"only image labels can be saved, got {type(label).__name__}")
        png, segments = label_to_wire(label)
        files = {
            "png": ("label.png", png, "image/png"),
            "segments": ("segments.json", segments.encode(), "application/json"),
        }
        response = self.request(
            "PUT",
            f"/samples/{sample_id}/label",
            files=files,
            data={"base_revision": str(base_revision)},
            retry=False,
        )
        return LabelOut.model_validate(response.json())

    def label_history(self, sample_id: int) -> list[LabelOut]:
        """Every revision of a sample's label."""
        return self._list(f"/samples/{sample_id}/labels", LabelOut)

    def upload_prelabel(
        self, sample_id: int, label: PanopticLabel, source: str, score: float | None = None
    ) -> PrelabelOut:
        """Upload a prediction as a prelabel (kept apart from human labels)."""
        if not isinstance(label, PanopticImage):
            raise LabelError(f"only image prelabels can be uploaded, got {type(label).__name__}")
        png, segments = label_to_wire(label)
        files = {
            "png": ("prelabel.png", png, "image/png"),
            "segments": ("segments.json", segments.encode(), "application/json"),
        }
        form: dict[str, str] = {"source": source}
        if score is not None:
            form["score"] = str(score)
        response = self.request(
            "POST", f"/samples/{sample_id}/prelabels", files=files, data=form, retry=False
        )
        return PrelabelOut.model_validate(response.json())

    def upload_predictions(
        self,
        dataset_id: int,
        predictions: Mapping[str, PanopticLabel] | PanopticDataset,
        source: str,
    ) -> dict[str, PrelabelOut]:
        """Upload many predictions as prelabels, matched to samples by name (or key)."""
        if isinstance(predictions, Mapping):
            items: Iterable[tuple[str, PanopticLabel]] = predictions.items()
        else:
            items = ((s.key, s.load_label()) for s in predictions)
        by_name = {s.name: s.id for s in self.samples(dataset_id)}
        out: dict[str, PrelabelOut] = {}
        for name, label in items:
            if name not in by_name:
                raise NotFoundError(f"dataset {dataset_id} has no sample named {name!r}")
            out[name] = self.upload_prelabel(by_name[name], label, source=source)
        return out

    def prelabels(self, sample_id: int) -> list[PrelabelOut]:
        """A sample's prelabels, newest first."""
        return self._list(f"/samples/{sample_id}/prelabels", PrelabelOut)

    def get_prelabel(self, prelabel: PrelabelOut) -> PanopticImage:
        """A prelabel as a :class:`PanopticImage`."""
        png = self.request("GET", f"/prelabels/{prelabel.id}/png").content
        taxonomy = self.taxonomy(self.sample(prelabel.sample_id).dataset_id)
        segments = {
            s.id: Segment(s.category_id, s.iscrowd, dict(s.attributes)) for s in prelabel.segments
        }
        return PanopticImage(decode_ids_png(png), segments, taxonomy)

    def accept_prelabel(self, prelabel_id: int, base_revision: int) -> LabelOut:
        """Make a prelabel the sample's next label revision."""
        response = self.request(
            "POST", f"/prelabels/{prelabel_id}/accept", json={"base_revision": base_revision}
        )
        return LabelOut.model_validate(response.json())

    # ----------------------------------------------------------------------- workflow
    def assign(self, dataset_id: int, sample_ids: Sequence[int], username: str) -> list[SampleOut]:
        """Assign samples to a labeler."""
        body = {"sample_ids": list(sample_ids), "username": username}
        response = self.request("POST", f"/datasets/{dataset_id}/assign", json=body)
        return [SampleOut.model_validate(x) for x in response.json()]

    def next_sample(self, dataset_id: int) -> SampleOut | None:
        """Your next sample to label (None when the queue is empty)."""
        data = self.request("POST", f"/datasets/{dataset_id}/queue/next").json()
        return None if data is None else SampleOut.model_validate(data)

    def next_review(self, dataset_id: int) -> SampleOut | None:
        """Your next sample to review (None when nothing waits)."""
        data = self.request("POST", f"/datasets/{dataset_id}/review/next").json()
        return None if data is None else SampleOut.model_validate(data)

    def submit(self, sample_id: int, revision: int | None = None) -> SampleOut:
        """Hand a labeled sample over for review; with ``revision`` (the one you saved) a
        save by someone else since makes it a :class:`ConflictError` (409)."""
        body = {"revision": revision} if revision is not None else None
        response = self.request("POST", f"/samples/{sample_id}/submit", json=body)
        return SampleOut.model_validate(response.json())

    def review(
        self, sample_id: int, accept: bool, comment: str = "", revision: int | None = None
    ) -> SampleOut:
        """Accept, or reject with a comment; with ``revision`` (the label revision you
        looked at) a save that landed since makes it a :class:`ConflictError` (409)."""
        body: dict[str, object] = {"accept": accept, "comment": comment}
        if revision is not None:
            body["revision"] = revision
        response = self.request("POST", f"/samples/{sample_id}/review", json=body)
        return SampleOut.model_validate(response.json())

    def reopen(self, sample_id: int) -> SampleOut:
        """Send a sample back to labeling (managers)."""
        return SampleOut.model_validate(self.request("POST", f"/samples/{sample_id}/reopen").json())

    def comment(self, sample_id: int, text: str) -> CommentOut:
        """Comment on a sample."""
        response = self.request("POST", f"/samples/{sample_id}/comments", json={"text": text})
        return CommentOut.model_validate(response.json())

    def comments(self, sample_id: int) -> list[CommentOut]:
        """A sample's comments and review verdicts."""
        return self._list(f"/samples/{sample_id}/comments", CommentOut)

    # -------------------------------------------------------------- releases, exports
    def create_release(self, dataset_id: int, name: str, description: str = "") -> ReleaseOut:
        """Freeze every accepted label under a new name."""
        body = {"name": name, "description": description}
        response = self.request("POST", f"/datasets/{dataset_id}/releases", json=body)
        return ReleaseOut.model_validate(response.json())

    def releases(self, dataset_id: int) -> list[ReleaseOut]:
        """A dataset's releases."""
        return self._list(f"/datasets/{dataset_id}/releases", ReleaseOut)

    def release(self, release_id: int) -> ReleaseOut:
        """One release."""
        return self._get(f"/releases/{release_id}", ReleaseOut)

    def release_items(self, release_id: int, page_size: int = 500) -> list[ReleaseItemOut]:
        """The samples of a release with their frozen revisions."""
        return list(self._pages(f"/releases/{release_id}/items", ReleaseItemOut, page_size))

    def export(
        self, release_id: int, format: str = "coco-panoptic", include_media: bool = True
    ) -> JobOut:
        """Start exporting a release (returns the job; see :meth:`wait` and :meth:`download`)."""
        body = {"format": format, "include_media": include_media}
        response = self.request("POST", f"/releases/{release_id}/exports", json=body)
        return JobOut.model_validate(response.json())

    def job(self, job_id: int) -> JobOut:
        """A job's status and progress."""
        return self._get(f"/jobs/{job_id}", JobOut)

    def jobs(self, dataset_id: int, kind: str | None = None) -> list[JobOut]:
        """A dataset's jobs, newest first."""
        return self._list(f"/datasets/{dataset_id}/jobs", JobOut, kind=kind)

    def wait(self, job_id: int, timeout: float = 600.0, poll: float = 0.2) -> JobOut:
        """Poll a job until it is done (a failed job raises :class:`RemoteError`)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.status == "done":
                return job
            if job.status == "failed":
                raise RemoteError(f"job {job_id} ({job.kind}) failed: {job.message}")
            if time.monotonic() > deadline:
                raise RemoteError(f"job {job_id} is still {job.status} after {timeout} s")
            time.sleep(poll)

    def download(self, job_id: int, dest: str | Path) -> Path:
        """Save a finished export's zip at ``dest`` (a file, or a folder to put it in; a
        path ending in ``/`` is a folder, made if missing).

        The file appears only when complete (written to a temporary name and renamed).
        """
        from panokit.io import atomic_write_bytes

        response = self.request("GET", f"/jobs/{job_id}/download")
        target = Path(dest)
        if str(dest).endswith(("/", "\\")):
            target.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            disposition = response.headers.get("content-disposition", "")
            name = (
                disposition.split("filename=")[-1].strip('"')
                if "filename=" in disposition
                else (f"export-{job_id}.zip")
            )
            target = target / Path(name).name
        atomic_write_bytes(target, response.content)
        return target


def _media_bytes(sample: Any) -> tuple[bytes, str]:
    """The bytes of a sample's media file, or its decoded media encoded as PNG."""
    media = getattr(sample, "media", None)
    if media is not None and Path(media).is_file():
        return Path(media).read_bytes(), Path(media).name
    from PIL import Image

    array = sample.load_media()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue(), f"{sample.key}.png"


class _ProgressBar:
    """A rich progress bar on stderr (or nothing when disabled)."""

    def __init__(self, enabled: bool, label: str, total: int) -> None:
        self._bar: Any = None
        self._task: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task(label, total=total)

    def __enter__(self) -> _ProgressBar:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self) -> None:
        """One more item done."""
        if self._bar is not None:
            self._bar.advance(self._task)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


T = TypeVar("T")


def _progress(items: list[T], show: bool, label: str) -> Iterable[T]:
    if not show or not items:
        return items
    from rich.console import Console
    from rich.progress import track

    return track(items, description=label, transient=True, console=Console(stderr=True))
