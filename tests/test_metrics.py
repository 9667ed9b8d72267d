"""Tests of freqforensics.metrics against values computed by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from freqforensics.metrics import (
    UndefinedMetricWarning,
    binary_metrics,
    equal_error_rate,
    evaluate_predictions,
    format_table,
    video_id,
    video_level,
)


class TestBinaryMetrics:
    def test_hand_computed(self) -> None:
        # ranking (desc): .8 fake, .4 real, .35 fake, .1 real
        # AUC: of the 4 (fake, real) pairs only (.35, .4) is misordered -> 3/4
        # ACC at 0.5: predictions [0, 0, 0, 1] -> 3/4 right
        # AP: precision 1 at recall 1/2, 2/3 at recall 1 -> (1 + 2/3) / 2 = 5/6
        # ROC: (0,0) (0,.5) (.5,.5) (.5,1) (1,1); FPR == FNR == .5 at the vertex (.5, .5)
        m = binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        assert m["auc"] == pytest.approx(0.75)
        assert m["acc"] == pytest.approx(0.75)
        assert m["ap"] == pytest.approx(5 / 6)
        assert m["eer"] == pytest.approx(0.5)
        assert (m["n"], m["n_real"], m["n_fake"]) == (4, 2, 2)

    def test_perfect(self) -> None:
        m = binary_metrics([0, 0, 1, 1, 1], [0.0, 0.3, 0.6, 0.9, 1.0])
        assert (m["auc"], m["acc"], m["eer"], m["ap"]) == (1.0, 1.0, 0.0, 1.0)

    def test_inverted(self) -> None:
        m = binary_metrics([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])
        assert m["auc"] == 0.0
        assert m["acc"] == 0.0
        assert m["eer"] == 1.0
        # AP of a fully inverted ranking: precision 1/3 at recall 1/2, 2/4 at recall 1
        assert m["ap"] == pytest.approx(0.5 * (1 / 3) + 0.5 * (2 / 4))

    def test_all_tied(self) -> None:
        # one threshold: ROC is the diagonal (0,0) -> (1,1); ties count half in the AUC
        m = binary_metrics([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
        assert m["auc"] == 0.5
        assert m["eer"] == 0.5
        assert m["ap"] == 0.5  # precision 1/2 at recall 1
        assert m["acc"] == 0.5  # 0.5 is not > 0.5: everything predicted real

    def test_threshold_is_strict(self) -> None:
        assert binary_metrics([1, 0], [0.5, 0.1])["acc"] == 0.5
        assert binary_metrics([1, 0], [0.5, 0.1], threshold=0.4)["acc"] == 1.0

    def test_partial_tie(self) -> None:
        # ranking: .9 fake, {.5 fake, .5 real} tied, .1 real
        # AUC: pairs (.9,.5) (.9,.1) (.5,.1) right, (.5,.5) a tie = 1/2 -> 3.5/4
        m = binary_metrics([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1])
        assert m["auc"] == pytest.approx(3.5 / 4)

    def test_accepts_tensors_and_bools(self) -> None:
        m = binary_metrics(
            torch.tensor([False, False, True, True]), torch.tensor([0.1, 0.4, 0.35, 0.8])
        )
        assert m["auc"] == pytest.approx(0.75)

    def test_one_class_gives_nan_and_warns(self) -> None:
        with pytest.warns(UndefinedMetricWarning, match="only one class"):
            m = binary_metrics([1, 1, 1], [0.9, 0.2, 0.7])
        assert math.isnan(m["auc"]) and math.isnan(m["eer"]) and math.isnan(m["ap"])
        assert m["acc"] == pytest.approx(2 / 3)
        assert (m["n_real"], m["n_fake"]) == (0, 3)

    @pytest.mark.parametrize(
        ("labels", "probs", "match"),
        [
            ([0, 1, 1], [0.1, 0.2], "same length"),
            ([], [], "not be empty"),
            ([0, 2], [0.1, 0.2], "labels"),
            ([0, 0.5], [0.1, 0.2], "labels"),
            (["a", "b"], [0.1, 0.2], "labels"),
            ([[0, 1]], [[0.1, 0.2]], "labels"),
            ([0, 1], [0.1, 1.2], "probs"),
            ([0, 1], [-0.1, 0.2], "probs"),
            ([0, 1], [0.1, float("nan")], "probs"),
            ([0, 1], [0.1, float("inf")], "probs"),
        ],
    )
    def test_bad_input(self, labels: list, probs: list, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            binary_metrics(labels, probs)

    def test_bad_threshold(self) -> None:
        with pytest.raises(ValueError, match="threshold"):
            binary_metrics([0, 1], [0.1, 0.9], threshold=1.5)


class TestEqualErrorRate:
    def test_at_vertex(self) -> None:
        # ROC (0,0) (0,.5) (.5,.5) ...: FPR - FNR is exactly 0 at the point (.5, .5)
        assert equal_error_rate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5)

    def test_interpolated_on_a_tie(self) -> None:
        # ROC (0,0) (0,.5) (.5,1) (1,1): the tie makes a diagonal segment from (0, .5) to
        # (.5, 1); FPR - FNR goes from -.5 to .5 along it and crosses 0 half-way, at
        # FPR = .25, TPR = .75, FNR = .25. The nearest ROC points would give .5 or 0.
        assert equal_error_rate([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.25)

    def test_interpolated_unbalanced(self) -> None:
        # 1 fake, 3 real; ROC (0,0) (1/3,0) (1/3,1) (1,1): FPR - FNR jumps from -2/3 to 1/3
        # on the vertical segment, where FPR stays 1/3; the crossing has FNR = FPR = 1/3
        assert equal_error_rate([0, 1, 0, 0], [0.9, 0.5, 0.4, 0.1]) == pytest.approx(1 / 3)

    def test_random_ties_against_hand_roc(self) -> None:
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 2, 200)
        probs = np.clip(0.3 * labels + rng.normal(0.35, 0.2, 200), 0, 1).round(2)  # many ties
        # ROC by hand: one point per distinct score, "predict fake when p >= t"
        pos, neg = probs[labels == 1], probs[labels == 0]
        thresholds = np.unique(probs)[::-1]
        fpr = np.array([0.0] + [np.mean(neg >= t) for t in thresholds])
        fnr = np.array([1.0] + [np.mean(pos < t) for t in thresholds])
        j = int(np.argmax(fpr - fnr >= 0))
        # intersect the segment (fpr, fnr)[j-1] -> [j] with the line FPR == FNR
        d0, d1 = fpr[j - 1] - fnr[j - 1], fpr[j] - fnr[j]
        expected = fpr[j - 1] + (-d0 / (d1 - d0)) * (fpr[j] - fpr[j - 1])
        assert equal_error_rate(labels, probs) == pytest.approx(expected)
        assert min(fpr[j - 1], fpr[j]) <= expected <= max(fpr[j - 1], fpr[j])

    def test_one_class_raises(self) -> None:
        with pytest.raises(ValueError, match="labels"):
            equal_error_rate([0, 0], [0.1, 0.2])


class TestVideoId:
    def test_format(self) -> None:
        assert video_id("ffpp", "NeuralTextures", "c23", "004_982") == (
            "ffpp/NeuralTextures/c23/004_982"
        )

    def test_four_fakes_of_one_target_stay_apart(self) -> None:
        methods = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"]
        ids = [video_id("ffpp", m, "c23", "000_003") for m in methods]
        assert len(set(ids)) == 4
        frame_ids = [i for i in ids for _ in range(3)]
        out_ids, labels, probs = video_level(frame_ids, [1] * 12, np.linspace(0.1, 0.9, 12))
        assert out_ids == ids
        assert labels.tolist() == [1, 1, 1, 1]
        assert probs == pytest.approx(np.linspace(0.1, 0.9, 12).reshape(4, 3).mean(1))

    @pytest.mark.parametrize("arg", ["dataset", "method", "compression", "name"])
    def test_bad_parts(self, arg: str) -> None:
        parts = {"dataset": "ffpp", "method": "Deepfakes", "compression": "c23", "name": "000"}
        with pytest.raises(ValueError, match=arg):
            video_id(**{**parts, arg: "a/b"})
        with pytest.raises(ValueError, match=arg):
            video_id(**{**parts, arg: ""})


class TestVideoLevel:
    def test_mean_in_first_appearance_order(self) -> None:
        ids, y, p = video_level(["b", "a", "b", "a"], [0, 1, 0, 1], [0.2, 0.9, 0.4, 0.5])
        assert ids == ["b", "a"]
        assert y.tolist() == [0, 1]
        assert p == pytest.approx([0.3, 0.7])

    def test_label_disagreement(self) -> None:
        with pytest.raises(ValueError, match="labels must agree.*'v1'"):
            video_level(["v1", "v1", "v2"], [0, 1, 1], [0.1, 0.2, 0.3])

    def test_bad_lengths(self) -> None:
        with pytest.raises(ValueError, match="video_ids"):
            video_level(["a", "b"], [0, 1, 1], [0.1, 0.2, 0.3])


class TestEvaluatePredictions:
    def test_frame_and_video_differ(self) -> None:
        # frames: real video r (.1, .6), fake video f (.4, .9)
        # frame AUC: (.4 vs .6) misordered -> 3/4; video means .35 < .65 -> AUC 1
        ids = ["r", "r", "f", "f"]
        out = evaluate_predictions(ids, [0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
        assert out["frame"]["auc"] == pytest.approx(0.75)
        assert out["frame"]["acc"] == pytest.approx(0.5)
        assert out["video"]["auc"] == 1.0
        assert out["video"]["acc"] == 1.0
        assert out["video"]["eer"] == 0.0
        assert (out["video"]["n"], out["frame"]["n"]) == (2, 4)

    def test_name_only_grouping_would_merge(self) -> None:
        # two fakes named 000_003 under two methods, plus two real videos
        ids = (
            [video_id("ffpp", "Deepfakes", "c23", "000_003")] * 2
            + [video_id("ffpp", "FaceSwap", "c23", "000_003")] * 2
            + [video_id("ffpp", "youtube", "c23", "000")] * 2
            + [video_id("ffpp", "youtube", "c23", "001")] * 2
        )
        labels = [1, 1, 1, 1, 0, 0, 0, 0]
        probs = [0.9, 0.8, 0.2, 0.3, 0.1, 0.2, 0.4, 0.5]
        out = evaluate_predictions(ids, labels, probs)
        assert (out["video"]["n"], out["video"]["n_fake"]) == (4, 2)
        # fake video means .85 and .25, real .15 and .45: 3 of 4 pairs ordered
        assert out["video"]["auc"] == pytest.approx(0.75)

    def test_one_class_video_level_warns(self) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = evaluate_predictions(["a", "b"], [1, 1], [0.7, 0.2])
        assert any(issubclass(w.category, UndefinedMetricWarning) for w in caught)
        assert math.isnan(out["video"]["auc"])
        assert out["video"]["acc"] == 0.5


class TestFormatTable:
    def test_table(self) -> None:
        table = format_table(
            {
                "frame": binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),
                "video": {"auc": math.nan, "acc": 1.0, "eer": 0.0, "ap": 1.0},
            }
        )
        lines = table.splitlines()
        assert lines[0].split() == ["name", "AUC", "ACC", "EER", "AP"]
        assert lines[1].split() == ["frame", "75.00", "75.00", "50.00", "83.33"]
        assert lines[2].split() == ["video", "nan", "100.00", "0.00", "100.00"]
        assert len({len(line) for line in lines}) == 1  # aligned

    def test_bad_rows(self) -> None:
        with pytest.raises(ValueError, match="rows"):
            format_table([0.5])  # type: ignore[arg-type]
