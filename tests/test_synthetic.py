"""The synthetic generator: deterministic, valid, and holding every case the tests need."""

import json

import numpy as np

from panokit.formats import coco_panoptic
from panokit.synthetic import make_pair, synthetic_taxonomy, write_coco_pair


def test_pairs_are_deterministic_and_valid():
    a_gt, a_pred = make_pair(3, seed=5, height=64, width=128)
    b_gt, b_pred = make_pair(3, seed=5, height=64, width=128)
    assert a_gt.equals(b_gt) and a_pred.equals(b_pred)
    assert list(a_gt.segments) == list(b_gt.segments)  # listing order too
    assert a_gt.problems() == [] and a_pred.problems() == []
    other, _ = make_pair(3, seed=6, height=64, width=128)
    assert not other.equals(a_gt)


def test_declared_areas_and_boxes_are_exact():
    gt, _ = make_pair(0, height=96, width=160)
    areas, boxes = gt.areas(), gt.bboxes()
    for seg_id, seg in gt.segments.items():
        assert seg.declared_area == areas[seg_id]
        assert tuple(seg.attributes["bbox"]) == boxes[seg_id]


def test_the_cases_are_there():
    tax = synthetic_taxonomy()
    assert [c.id for c in tax.things] == [24, 26, 33, 27, 25, 31]
    gt3, _ = make_pair(3, height=128, width=256)  # every 7th image: two crowds of one class
    crowd_classes = [s.category_id for s in gt3.segments.values() if s.iscrowd]
    assert len(crowd_classes) == 2 and crowd_classes[0] == crowd_classes[1]
    _, empty = make_pair(17, height=64, width=128)
    assert empty.segments == {} and not empty.ids.any()
    gt, pred = make_pair(1, height=128, width=256)
    assert (gt.ids == 0).any() and (pred.ids[gt.ids == 0] != 0).any()  # predictions on void
    assert 22 not in {s.category_id for s in pred.segments.values()}  # terrain never predicted
    assert int(max(gt.segments)) > 1 << 16  # ids use the blue channel


def test_written_files_read_back(tmp_path):
    gt_json, pred_json = write_coco_pair(tmp_path, 3, height=48, width=64, string_ids=True)
    gt = coco_panoptic.read(gt_json)
    pred = coco_panoptic.read(pred_json, taxonomy=gt.taxonomy)
    assert gt.keys() == ["synth_000000_000019", "synth_000001_000019", "synth_000002_000019"]
    assert pred.keys() == list(reversed(gt.keys()))
    label = gt[1].load_label()
    expected, _ = make_pair(1, height=48, width=64)
    assert np.array_equal(label.ids, expected.ids)
    assert "categories" not in json.loads(pred_json.read_text())
