import json
import re

import numpy as np
import pytest

import panokit
from panokit.cli.main import main
from panokit.core import Category, PanopticImage, Segment, Taxonomy
from tests.curation._data import TAX, label_a, label_b, memory_dataset


def shifted(seed):
    """label_b with the persons moved: distinct pictures that are not duplicates."""
    lab = label_b()
    ids = np.roll(lab.ids, seed * 3, axis=1 if seed % 2 else 0)
    return lab.with_segments(ids, lab.segments)


@pytest.fixture
def coco(tmp_path):
    labels = [label_a(), label_b(), label_a(car_id=7), shifted(1), shifted(2), shifted(3)]
    panokit.write(memory_dataset(labels), tmp_path / "ds", format="coco-panoptic")
    return tmp_path / "ds"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_prints_and_writes_json_and_html(coco, tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "stats",
        coco,
        "--json",
        tmp_path / "s.json",
        "--html",
        tmp_path / "s.html",
        "--workers",
        "2",
    )
    assert code == 0
    assert "6 samples (6 labeled), 600 pixels, void 0.33%" in out
    doc = json.loads((tmp_path / "s.json").read_text())
    rows = {c["name"]: c for c in doc["categories"]}
    assert rows["sky"]["elements"] == 78 and rows["sky"]["samples"] == 2
    assert rows["person"]["segments"] == 2 + 2 * 4
    assert (tmp_path / "s.html").read_text().count("data:image/png;base64,") == 6


def test_render_writes_one_picture_per_sample(coco, tmp_path, capsys):
    code, out, _ = run(capsys, "render", coco, "--out", tmp_path / "pics", "--samples", "s0", "s1")
    assert code == 0 and "wrote 2 pictures of 2 samples" in out
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == [
        "s0.overlay.png",
        "s1.overlay.png",
    ]
    code, _, err = run(capsys, "render", coco, "--out", tmp_path / "pics2", "--samples", "nope")
    assert code == 1 and "no sample with key(s) ['nope']" in err


def test_select_writes_keys_and_reports_radii(coco, tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "select",
        coco,
        "--n",
        "2",
        "--out",
        tmp_path / "k.txt",
        "--json",
        tmp_path / "k.json",
    )
    assert code == 0 and "chose 2 of 6 samples (diverse)" in out
    assert "before unbounded (nothing chosen yet), after" in " ".join(out.split())
    keys = (tmp_path / "k.txt").read_text().split()
    doc = json.loads((tmp_path / "k.json").read_text())
    # label compositions only (no media): two distinct vectors, both covered
    assert doc["keys"] == keys == ["s1", "s0"] and doc["radius_after"] == 0.0
    assert doc["radius_before"] is None
    code, _, _ = run(
        capsys,
        "select",
        coco,
        "--n",
        "1",
        "--strategy",
        "class-balanced",
        "--out",
        tmp_path / "c.txt",
    )
    assert code == 0 and (tmp_path / "c.txt").read_text() == "s0\n"
    np.save(tmp_path / "f.npy", np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [5.0]]))
    code, out, _ = run(
        capsys,
        "select",
        coco,
        "--n",
        "2",
        "--features",
        tmp_path / "f.npy",
        "--out",
        tmp_path / "f.txt",
        "--html",
        tmp_path / "f.html",
    )
    assert code == 0 and (tmp_path / "f.txt").read_text().split() == ["s5", "s4"]  # 5, then 11
    page = (tmp_path / "f.html").read_text()
    # radius after choosing 5 and 11: the farthest sample, 0, is 5 away
    assert "2 of 6 samples chosen. Coverage radius" in page and "after 5;" in page
    assert "Chosen samples in feature space" not in page  # one feature: nothing to project
    assert "<h2>Category frequency: subset against the whole dataset</h2>" in page
    assert "<figcaption>s5</figcaption>" in page and page.count("data:image/png;base64,") == 3
    code, _, err = run(capsys, "select", coco, "--n", "9", "--out", tmp_path / "x.txt")
    assert code == 1 and "cannot select 9 samples: only 6 are available" in err


def test_dedup_lists_groups(coco, capsys):
    code, out, _ = run(capsys, "dedup", coco, "--threshold", "0")
    assert code == 0
    assert "group 1 (label): s0 s2" in out
    assert "1 group(s) of near-duplicates, 1 redundant sample(s) of 6" in out


def test_split_and_check(coco, tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "split",
        coco,
        "--ratios",
        "0.5,0.5",
        "--threshold",
        "0",
        "--out",
        tmp_path / "split.json",
    )
    assert code == 0
    split = json.loads((tmp_path / "split.json").read_text())
    assert sorted(split) == ["train", "val"] and sorted(split["train"] + split["val"]) == [
        f"s{i}" for i in range(6)
    ]
    together = [name for name, keys in split.items() if "s0" in keys and "s2" in keys]
    assert len(together) == 1
    code, out, _ = run(
        capsys, "split", coco, "--threshold", "0", "--check", tmp_path / "split.json"
    )
    assert code == 0 and "ok no leaks" in out
    (tmp_path / "leak.json").write_text(json.dumps({"train": ["s0", "s1"], "test": ["s2"]}))
    code, out, _ = run(capsys, "split", coco, "--threshold", "0", "--check", tmp_path / "leak.json")
    assert code == 1
    assert "leak near-duplicates across splits: train: s0; test: s2" in out
    assert "1 leak(s), 0 repeated key(s), 0 unknown key(s)" in out
    code, _, err = run(capsys, "split", coco, "--ratios", "a,b")
    assert code == 1 and "split ratios must be numbers" in err


def test_split_check_follows_chains_of_near_duplicates(coco, tmp_path, capsys, monkeypatch):
    from panokit.curation import dedup

    # s0 ~ s1 ~ s2 (one bit apart each), s0 and s2 two bits apart; the rest far away
    bits = {"s0": 0b00, "s1": 0b01, "s2": 0b11, "s3": 1 << 20, "s4": 1 << 30, "s5": 1 << 40}
    monkeypatch.setattr(dedup, "_sample_hash", lambda s, m, p: ("image", bits[s.key]))
    code, out, _ = run(capsys, "dedup", coco, "--threshold", "1")
    assert code == 0 and "group 1 (image): s0 s1" in out and "s2" not in out  # star: no chain
    (tmp_path / "chain.json").write_text(
        json.dumps({"train": ["s0", "s1", "s3"], "val": ["s2", "s4", "s5"]})
    )
    code, out, _ = run(
        capsys, "split", coco, "--threshold", "1", "--check", tmp_path / "chain.json"
    )
    assert code == 1 and "1 leak(s)" in out  # s1 (train) ~ s2 (val) through the chain


def test_shift_needs_a_map_for_other_taxonomies(coco, tmp_path, capsys):
    other = Taxonomy([Category(5, "human", True), Category(6, "street", False)], name="other")
    ids = np.ones((10, 10), np.uint32)
    ids[:3, :3] = 2
    lab = PanopticImage(ids, {1: Segment(6), 2: Segment(5)}, other)
    panokit.write(memory_dataset([lab], taxonomy=other), tmp_path / "b", format="coco-panoptic")
    code, _, err = run(capsys, "shift", coco, tmp_path / "b")
    assert code == 1
    err = " ".join(err.split())
    assert "different taxonomies and no label map was given" in err and "(--map FILE)" in err
    assert "only in B: 5 human, 6 street" in err
    (tmp_path / "map.json").write_text(
        json.dumps({"mapping": {"human": "person", "street": "road"}})
    )
    code, out, _ = run(
        capsys,
        "shift",
        coco,
        tmp_path / "b",
        "--map",
        tmp_path / "map.json",
        "--html",
        tmp_path / "shift.html",
        "--json",
        tmp_path / "shift.json",
    )
    assert code == 0 and "missing in B: car, sky" in out
    doc = json.loads((tmp_path / "shift.json").read_text())
    assert doc["missing_in_b"] == ["car", "sky"] and doc["ranked"][0]["kind"] == "missing"
    assert "What differs most" in (tmp_path / "shift.html").read_text()


def test_empty_dataset_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty.json").write_text(
        json.dumps({"images": [], "annotations": [], "categories": TAX.to_list()})
    )
    (tmp_path / "empty").mkdir()
    for command in ("stats", "select", "split", "dedup"):
        extra = ["--n", "1", "--out", str(tmp_path / "o.txt")] if command == "select" else []
        code, _, err = run(
            capsys, command, tmp_path / "empty.json", "--format", "coco-panoptic", *extra
        )
        assert code == 1, command
        assert "has no samples" in err


def test_images_folder_gives_media_to_dedup_and_render(coco, tmp_path, capsys):
    from PIL import Image

    from tests.curation.test_dedup import blocky

    doc = json.loads((coco / "panoptic.json").read_text())
    names = [im["file_name"] for im in doc["images"]]
    assert names[:2] == ["s0.jpg", "s1.jpg"]
    images = tmp_path / "images"
    images.mkdir()
    for i, name in enumerate(names):
        picture = blocky(10 + i, size=16)[:10, :10] if i != 3 else blocky(11, size=16)[:10, :10]
        Image.fromarray(picture).save(images / name, quality=95)
    page = tmp_path / "dedup.html"
    code, out, _ = run(
        capsys, "dedup", coco, "--images", images, "--threshold", "4", "--html", page
    )
    assert code == 0 and "group 1 (image): s1 s3" in out
    html = page.read_text()
    assert "<h2>group 1: 2 samples</h2>" in html and "star linkage" in html
    assert "<figcaption>s1</figcaption>" in html
    assert re.search(r"<figcaption>s3 \(\d bits\)</figcaption>", html)
    assert html.count("data:image/png;base64,") == 2
    code, _, _ = run(
        capsys, "render", coco, "--images", images, "--out", tmp_path / "p", "--limit", "1"
    )
    assert code == 0
    drawn = np.asarray(Image.open(tmp_path / "p" / "s0.overlay.png"))
    assert drawn.shape == (4 + 14 * 4 + 4, 10 + 170, 3)
    photo = np.asarray(Image.open(images / "s0.jpg")).astype(int)
    expected = np.round((photo[1, 1] + np.array([70, 130, 180])) / 2)  # sky blended at 0.5
    assert np.abs(drawn[1, 1] - expected).max() <= 1
