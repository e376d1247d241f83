"""The evaluation segmenter (condgen.metrics.segmenter): mIoU by hand, don't-care ignored, and it can learn."""

from __future__ import annotations

import math

import pytest
import torch

from condgen.metrics.segmenter import (
    Segmenter,
    SegmenterFeatures,
    confusion_matrix,
    iou_per_class,
    load_segmenter,
    mean_iou,
    pixel_accuracy,
    save_segmenter,
    seg_scores,
    train_segmenter,
)


def test_miou_by_hand_with_absent_classes_and_dontcare():
    # 4 classes; class 2 is nowhere (truth or prediction); class 3 is predicted but absent from the truth
    target = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 255], [255, 255, 0, 0]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 1, 3, 2], [1, 3, 0, 0]])
    conf = confusion_matrix(pred, target, 4)
    # don't-care pixels (target 255) are skipped whatever was predicted there (2, 1, 3)
    assert conf.sum() == 9
    expected = torch.tensor([[4, 1, 0, 0],   # true 0: five pixels, one predicted as 1
                             [0, 3, 0, 1],   # true 1: four pixels, one predicted as 3
                             [0, 0, 0, 0],
                             [0, 0, 0, 0]])
    assert torch.equal(conf, expected)
    iou = iou_per_class(conf)
    # class 0: TP 4, FP 0, FN 1 -> 4/5; class 1: TP 3, FP 1, FN 1 -> 3/5; class 3: TP 0, FP 1 -> 0; class 2: none
    assert iou[0] == pytest.approx(4 / 5) and iou[1] == pytest.approx(3 / 5) and iou[3] == 0
    assert math.isnan(iou[2])
    assert mean_iou(conf) == pytest.approx((4 / 5 + 3 / 5 + 0) / 3)
    assert pixel_accuracy(conf) == pytest.approx(7 / 9)
    sc = seg_scores(conf, ["a", "b", "c", "d"])
    assert sc["iou"]["c"] is None and sc["iou"]["d"] == 0 and sc["pixels"] == 9
    # a perfect prediction; don't-care everywhere gives an empty matrix
    assert mean_iou(confusion_matrix(target.clamp(max=3), target, 4)) == 1.0
    assert math.isnan(mean_iou(confusion_matrix(pred, torch.full_like(target, 255), 4)))


def test_segmenter_overfits_a_tiny_batch_and_round_trips(tmp_path, one_thread):
    """Over 6 seeds (noise and training; fp32, one thread, 2026-12-03) 100 steps reached mIoU 0.987-1.0: the bound
    is 0.95."""
    torch.manual_seed(0)
    # two 16 x 16 images: class = which half (left/right, top/bottom), colours tell the classes apart
    y = torch.zeros(2, 16, 16, dtype=torch.long)
    y[0, :, 8:] = 1
    y[1, 8:] = 2
    y[1, :2, :2] = 255  # unlabelled corner
    palette = torch.tensor([[-0.8, 0.2, 0.5], [0.6, -0.4, 0.1], [0.1, 0.7, -0.6]])
    x = palette[y.clamp(max=2)].permute(0, 3, 1, 2) + 0.05 * torch.randn(2, 3, 16, 16)
    net = train_segmenter(x, y, 3, steps=100, batch_size=2, width=4, lr=1e-2)
    conf = confusion_matrix(net.predict(x), y, 3)
    assert mean_iou(conf) > 0.95
    feats = SegmenterFeatures(net)
    assert feats(x).shape == (2, 4) and not feats.train().training
    path = save_segmenter(net, tmp_path / "seg.safetensors", {"note": "test"})
    again = load_segmenter(path)
    assert isinstance(again, Segmenter) and torch.equal(again.predict(x), net.predict(x))
