"""``panokit demo``: generate, convert, evaluate, print."""

import json

from panokit.cli.main import main


def test_demo_keeps_files_when_asked(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--images", "3", "--height", "64", "--width", "128"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "1. generated 3 synthetic images of 128x64" in printed
    assert "panoptic quality (coco, x100)" in printed
    assert "files kept in" in printed
    doc = json.loads((out / "coco" / "gt.json").read_text())
    assert [a["image_id"] for a in doc["annotations"]] == [
        "synth_000000_000019",
        "synth_000001_000019",
        "synth_000002_000019",
    ]
    assert (out / "cityscapes").is_dir() or (out / "coco-roundtrip").is_dir()
    assert main(["demo", "--out", str(out), "--images", "3"]) == 1


def test_demo_in_a_temporary_folder(capsys):
    assert main(["demo", "--images", "2", "--height", "48", "--width", "96", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "3. evaluated the prediction against" in printed and "done in" in printed
