"""Self-contained HTML reports with embedded PNG plots (matplotlib, Agg backend).

matplotlib is imported lazily (the ``curation`` extra); the HTML holds everything inline
(styles and base64 PNGs), so a report is one file that opens anywhere.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from panokit.curation.dedup import DuplicateReport
from panokit.curation.shift import ShiftReport, octaves
from panokit.curation.stats import SIZE_BINS_PER_OCTAVE, DatasetStats
from panokit.dataset import PanopticDataset
from panokit.errors import require

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em}td,th{padding:2px 8px;border-bottom:1px solid #eee}
th{text-align:left;background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;margin:.5em 0}.row{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;font-size:.8em}figure img{border:1px solid #ccc;margin:0}.sw{display:inline-block;width:.9em;height:.9em;border:1px solid #888}
"""


def _pyplot() -> Any:
    require("matplotlib", "curation", "plots in HTML reports")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


class HtmlReport:
    """A list of HTML blocks rendered into one self-contained page."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.blocks: list[str] = []

    def heading(self, text: str) -> None:
        """A section heading."""
        self.blocks.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str) -> None:
        """A paragraph of plain text."""
        self.blocks.append(f"<p>{html.escape(text)}</p>")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table; numbers are right-aligned, ``("swatch", (r, g, b))`` cells show a colour."""
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = []
        for row in rows:
            cells = []
            for cell in row:
                if isinstance(cell, tuple) and len(cell) == 2 and cell[0] == "swatch":
                    r, g, b = cell[1]
                    cells.append(
                        f'<td><span class="sw" style="background:rgb({r},{g},{b})"></span></td>'
                    )
                elif isinstance(cell, (int, float, np.integer, np.floating)):
                    cells.append(f'<td class="n">{html.escape(_fmt(cell))}</td>')
                else:
                    cells.append(f"<td>{html.escape(str(cell))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.blocks.append(f"<table><tr>{head}</tr>{''.join(body)}</table>")

    def figure(self, fig: Any, alt: str) -> None:
        """Embed a matplotlib figure as a base64 PNG (the figure is closed)."""
        plt = _pyplot()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        self.blocks.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')

    def thumbnails(self, items: Sequence[tuple[Any, str]], longest: int = 240) -> None:
        """A row of pictures (arrays, resized to ``longest`` px) with a caption each."""
        from PIL import Image

        cells = []
        for picture, caption in items:
            image = Image.fromarray(_as_rgb8(picture))
            image.thumbnail((longest, longest))
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            data = base64.b64encode(buf.getvalue()).decode("ascii")
            cells.append(
                f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        self.blocks.append(f'<div class="row">{"".join(cells)}</div>')

    def render(self) -> str:
        """The whole page."""
        return (
            "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1>\n" + "\n".join(self.blocks) + "\n</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the page atomically."""
        from panokit.io import atomic_write_bytes

        out = Path(path)
        atomic_write_bytes(out, self.render().encode("utf-8"))
        return out


def _as_rgb8(picture: Any) -> Any:
    """An (H, W, 3) uint8 array from a gray, RGB(A), float or (T, C, H, W) picture."""
    arr = np.asarray(picture)
    if arr.ndim == 4:
        from panokit.curation.features import series_frame

        return series_frame(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        top = float(arr.max(initial=0))
        arr = (np.clip(arr / (top if top > 0 else 1.0), 0, 1) * 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "-"
        if 1e4 <= abs(float(value)) < 1e15:
            return f"{value:.0f}"  # sizes in pixels or points: no exponent
        return f"{value:.4g}"
    return str(value)


def _rgb01(color: Sequence[int]) -> tuple[float, float, float]:
    return (color[0] / 255, color[1] / 255, color[2] / 255)


def _bar_chart(
    names: Sequence[str], values: Sequence[float], colors: Sequence[Any], title: str, xlabel: str
) -> Any:
    plt = _pyplot()
    height = max(2.0, 0.22 * len(names) + 1)
    fig, ax = plt.subplots(figsize=(7, height))
    y = np.arange(len(names))
    ax.barh(y, values, color=colors, edgecolor="#444", linewidth=0.4)
    ax.set_yticks(y, labels=list(names), fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return fig


def stats_report(stats: DatasetStats, title: str = "Dataset statistics") -> HtmlReport:
    """The HTML report of ``panokit stats --html``."""
    plt = _pyplot()
    report = HtmlReport(title)
    unit = stats.unit or "elements"
    data = stats.to_dict()
    report.paragraph(
        f"{stats.samples} samples ({stats.labeled} labeled), {stats.total_elements} {unit}; "
        f"void {data['void_share']:.2%}; things {data['things']['share']:.2%} of labeled {unit} "
        f"in {data['things']['segments']} instances, stuff {data['stuff']['share']:.2%}."
    )
    rows = stats.categories()
    for things in (True, False):
        kind = [r for r in rows if r.isthing == things]
        if not kind:
            continue
        report.heading("Things" if things else "Stuff")
        # categories that never occur are listed once, not as rows and empty bars
        part = [r for r in kind if r.elements > 0 or r.segments > 0]
        absent = [r.name for r in kind if not (r.elements > 0 or r.segments > 0)]
        if absent:
            report.paragraph(
                f"{len(absent)} of {len(kind)} {'thing' if things else 'stuff'} categories "
                f"never occur: {', '.join(absent)}."
            )
        if not part:
            continue
        report.table(
            [
                "",
                "id",
                "name",
                "share",
                "sample freq.",
                "segments",
                "crowd",
                "median size (approx.)",
            ],
            [
                (
                    ("swatch", stats.taxonomy[r.id].color),
                    r.id,
                    r.name,
                    f"{r.share:.2%}",
                    f"{r.sample_frequency:.1%}",
                    r.segments,
                    r.crowd_segments,
                    r.median_size,
                )
                for r in part
            ],
        )
        order = sorted(part, key=lambda r: -r.share)
        colors = [_rgb01(stats.taxonomy[r.id].color) for r in order]
        names = [r.name for r in order]
        report.figure(
            _bar_chart(names, [r.share for r in order], colors, f"{unit} share", "share"),
            f"{unit} share",
        )
        report.figure(
            _bar_chart(
                names,
                [r.sample_frequency for r in order],
                colors,
                "sample frequency",
                "fraction of samples",
            ),
            "sample frequency",
        )
    thing_idx = np.flatnonzero(stats.isthing & (stats.segments > 0))
    if thing_idx.size:
        report.heading("Instance sizes")
        fig, ax = plt.subplots(figsize=(7, 3.5))
        centres = 2.0 ** ((np.arange(stats.size_hist.shape[1]) + 0.5) / SIZE_BINS_PER_OCTAVE)
        for i in thing_idx[np.argsort(-stats.segments[thing_idx])][:8]:
            cat = stats.taxonomy.categories[i]
            ax.plot(centres, stats.size_hist[i], label=cat.name, color=_rgb01(cat.color))
        used = np.flatnonzero(stats.size_hist[thing_idx].sum(axis=0))
        ax.set_xlim(centres[max(used[0] - 2, 0)], centres[min(used[-1] + 2, len(centres) - 1)])
        ax.set_xscale("log")
        ax.set_xlabel(f"instance size ({unit})")
        ax.set_ylabel("instances")
        ax.legend(fontsize=7)
        report.figure(fig, "instance sizes")
    present = np.flatnonzero(stats.sample_counts > 0)
    if present.size > 1:
        report.heading("Co-occurrence")
        counts = stats.cooccurrence[np.ix_(present, present)].astype(np.float64)
        diag = np.diag(counts).copy()
        conditional = counts / np.maximum(diag[:, None], 1)
        names = [stats.taxonomy.categories[i].name for i in present]
        side = max(4.0, 0.25 * len(names) + 2)
        fig, ax = plt.subplots(figsize=(side, side))
        im = ax.imshow(conditional, cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(names)), labels=names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), labels=names, fontsize=7)
        ax.set_title("P(column present | row present)")
        fig.colorbar(im, ax=ax, shrink=0.7)
        report.figure(fig, "co-occurrence")
    return report


def shift_report(shift: ShiftReport, title: str = "Domain shift") -> HtmlReport:
    """The HTML report of ``panokit shift --html``."""
    plt = _pyplot()
    report = HtmlReport(title)
    a, b = shift.name_a, shift.name_b
    report.paragraph(
        f"A = {a} ({shift.stats_a.labeled} labeled samples), B = {b} "
        f"({shift.stats_b.labeled} labeled samples)."
    )
    report.paragraph(
        f"Jensen-Shannon divergence (base 2) of the category distributions: "
        f"{_fmt(shift.category_jsd)} ({shift.stats_a.unit or 'elements'}), "
        f"{_fmt(shift.frequency_jsd)} (sample frequency); of the thing instance sizes: "
        f"{_fmt(shift.things_size_jsd)}."
    )
    if shift.missing_in_a or shift.missing_in_b:
        report.heading("Categories on one side only")
        report.table(
            ["missing in", "categories"],
            [
                ("A", ", ".join(shift.missing_in_a) or "-"),
                ("B", ", ".join(shift.missing_in_b) or "-"),
            ],
        )
    report.heading("What differs most")
    differing = [it for it in shift.ranked if it.score > 0]
    if differing:
        report.table(
            ["rank", "kind", "name", "score", "detail"],
            [(i + 1, it.kind, it.name, it.score, it.detail) for i, it in enumerate(differing[:40])],
        )
    same = len(shift.ranked) - len(differing)
    if same:
        report.paragraph(
            f"{'Nothing else differs' if differing else 'Nothing differs'}: {same} "
            "compared item(s) score 0."
        )
    sa, sb = shift.stats_a.shares(), shift.stats_b.shares()
    keep = np.flatnonzero((sa > 0) | (sb > 0))
    if keep.size:
        report.heading("Category shares")
        keep = keep[np.argsort(-(sa[keep] + sb[keep]))]
        names = [shift.stats_a.taxonomy.categories[i].name for i in keep]
        fig, ax = plt.subplots(figsize=(7, max(2.0, 0.25 * len(names) + 1)))
        y = np.arange(len(names))
        ax.barh(y - 0.2, sa[keep], height=0.4, label="A", color="#4c72b0")
        ax.barh(y + 0.2, sb[keep], height=0.4, label="B", color="#dd8452")
        ax.set_yticks(y, labels=names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("share")
        ax.legend()
        report.figure(fig, "category shares")
        both = [i for i in keep if sa[i] > 0 and sb[i] > 0]
        if both and np.any(sa[both] != sb[both]):
            ratio = np.log2(sb[both] / sa[both])
            fig, ax = plt.subplots(figsize=(7, max(2.0, 0.22 * len(both) + 1)))
            y = np.arange(len(both))
            ax.barh(y, ratio, color=np.where(ratio > 0, "#dd8452", "#4c72b0"))
            ax.axvline(0, color="#444", linewidth=0.6)
            ax.set_yticks(
                y, labels=[shift.stats_a.taxonomy.categories[i].name for i in both], fontsize=8
            )
            ax.invert_yaxis()
            ax.set_xlabel("log2(share B / share A)")
            report.figure(fig, "share ratios")
    if shift.size_jsd:
        report.heading("Instance sizes (the most shifted things)")
        top = sorted(shift.size_jsd, key=lambda n: -shift.size_jsd[n])[:4]
        fig, axes = plt.subplots(1, len(top), figsize=(3.2 * len(top), 2.8), squeeze=False)
        for ax, name in zip(axes[0], top, strict=True):
            i = shift.stats_a.taxonomy.ids.index(shift.stats_a.taxonomy.by_name(name).id)
            rows = [
                octaves(s.size_hist[i]).astype(np.float64) for s in (shift.stats_a, shift.stats_b)
            ]
            used = np.flatnonzero(rows[0] + rows[1])
            span = np.arange(max(used[0] - 1, 0), min(used[-1] + 2, len(rows[0])))
            for row, label, color in zip(rows, ("A", "B"), ("#4c72b0", "#dd8452"), strict=True):
                ax.step(
                    2.0**span, row[span] / max(row.sum(), 1), where="post", label=label, color=color
                )
            ax.set_xscale("log")
            ax.set_title(f"{name} (JSD {shift.size_jsd[name]:.2f})", fontsize=9)
            ax.legend(fontsize=7)
        report.figure(fig, "instance sizes")
    if shift.image_jsd:
        report.heading("Image statistics")
        report.table(
            ["statistic", "mean A", "mean B", "JSD"],
            [(n, *shift.image_means[n], shift.image_jsd[n]) for n in shift.image_jsd],
        )
    return report


def dedup_report(
    report: DuplicateReport,
    dataset: PanopticDataset,
    title: str = "Near-duplicates",
    max_groups: int = 100,
) -> HtmlReport:
    """The HTML page of ``panokit dedup --html``: each group's pictures side by side (the
    image, else the label in category colours) with the Hamming distance to the first."""
    from panokit.curation.dedup import hamming, label_picture

    page = HtmlReport(title)
    page.paragraph(
        f"{len(report.groups)} group(s), {report.duplicates} redundant sample(s) of "
        f"{len(dataset)} ({report.method}, threshold {report.threshold} bits of 64, "
        f"{report.linkage} linkage). Keep the first of each group."
    )
    if len(report.groups) > max_groups:
        page.paragraph(f"The first {max_groups} groups are shown.")
    by_key = {s.key: s for s in dataset}
    for number, group in enumerate(report.groups[:max_groups], start=1):
        page.heading(f"group {number}: {len(group)} samples")
        first = report.hashes[group[0]]
        items: list[tuple[Any, str]] = []
        for key in group:
            sample = by_key[key]
            if sample.media_loader is not None and report.sources[key] == "image":
                picture = sample.load_media()
            else:
                label = sample.load_label()
                if label.ids.ndim != 2:
                    items = []
                    break  # a point cloud: the keys are listed below instead
                picture = label_picture(label)
            value = report.hashes[key]
            distance = (
                hamming(int(first, 16), int(value, 16)) if report.sources[key] != "scan" else 0
            )
            caption = key if key == group[0] else f"{key} ({distance} bits)"
            items.append((picture, caption))
        if items:
            page.thumbnails(items)
        else:
            page.paragraph("identical scans: " + ", ".join(group))
    return page


def _picture(sample: Any) -> Any | None:
    """A sample's image, else its label in category colours (None for point clouds)."""
    from panokit.curation.dedup import label_picture

    if sample.media_loader is not None:
        media = np.asarray(sample.load_media())
        if media.ndim in (2, 4) or (media.ndim == 3 and media.shape[2] <= 4):
            return media
    if sample.has_label:
        label = sample.load_label()
        if label.ids.ndim == 2:
            return label_picture(label)
    return None


def select_report(
    dataset: PanopticDataset,
    indices: Sequence[int],
    features: Any,
    radii: dict[str, float],
    presence: Any | None = None,
    title: str = "Selection",
    pictures: int = 24,
) -> HtmlReport:
    """The HTML page of ``panokit select --html``: coverage radii, the chosen samples among
    all in the first two principal components of the features, category frequency in the
    subset against the whole dataset, and pictures of the first chosen samples."""
    plt = _pyplot()
    page = HtmlReport(title)
    chosen = np.asarray(list(indices), dtype=np.int64)
    parts = [f"{len(chosen)} of {len(dataset)} samples chosen."]
    parts.append(
        "Coverage radius (the largest distance from a sample to its nearest chosen one, "
        f"in feature space): after {radii.get('after', float('nan')):.4g}"
    )
    if np.isfinite(radii.get("random", float("nan"))):
        parts.append(f"; a random subset of the same size: {radii['random']:.4g}")
    page.paragraph(" ".join(parts[:1]) + " " + "".join(parts[1:]) + ".")
    values = np.asarray(features, dtype=np.float64)
    if values.ndim == 2 and values.shape[0] >= 3 and values.shape[1] >= 2:
        page.heading("Chosen samples in feature space")
        centred = values - values.mean(axis=0)
        rng = np.random.default_rng(0)
        shown = np.arange(len(values))
        if len(shown) > 20000:
            shown = np.sort(rng.choice(len(values), 20000, replace=False))
        _, _, vt = np.linalg.svd(centred[shown], full_matrices=False)
        xy = centred @ vt[:2].T
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.scatter(xy[shown, 0], xy[shown, 1], s=4, color="#bbb", label="all samples")
        ax.scatter(xy[chosen, 0], xy[chosen, 1], s=14, color="#d62728", label="chosen")
        ax.set_xlabel("principal component 1")
        ax.set_ylabel("principal component 2")
        ax.legend(fontsize=8)
        page.figure(fig, "chosen samples in feature space")
    if presence is not None and len(chosen):
        pres = np.asarray(presence, dtype=bool)
        all_freq = pres.mean(axis=0)
        sub_freq = pres[chosen].mean(axis=0)
        used = np.flatnonzero(all_freq > 0)
        if used.size:
            page.heading("Category frequency: subset against the whole dataset")
            cats = dataset.taxonomy.categories
            names = [cats[i].name for i in used]
            fig, ax = plt.subplots(figsize=(7, max(2.0, 0.3 * len(used) + 1)))
            y = np.arange(len(used))
            ax.barh(y - 0.2, all_freq[used], height=0.4, color="#bbb", label="all samples")
            ax.barh(y + 0.2, sub_freq[used], height=0.4, color="#d62728", label="chosen")
            ax.set_yticks(y, labels=names, fontsize=8)
            ax.invert_yaxis()
            ax.set_xlabel("fraction of samples where the category occurs")
            ax.legend(fontsize=8)
            page.figure(fig, "category frequency")
    items = []
    for i in chosen[:pictures].tolist():
        sample = dataset[i]
        picture = _picture(sample)
        if picture is not None:
            items.append((picture, sample.key))
    if items:
        page.heading(f"The first {len(items)} chosen samples")
        page.thumbnails(items, longest=200)
    return page
