"""convsweep.tasks.reporting.render_measures: the accuracy-for-size front and the measures figure."""

from __future__ import annotations

import pandas as pd
import pytest

from convsweep.tasks.reporting import render
from convsweep.tasks.reporting.render_measures import accuracy_front, configuration_words, measures_figure


def test_accuracy_front_keeps_only_points_no_smaller_point_beats():
    points = [(100, 0.9), (50, 0.8), (50, 0.85), (200, 0.88), (400, 0.95), (25, 0.5)]
    assert accuracy_front(points) == [5, 2, 0, 4]


def test_accuracy_front_of_equal_accuracies_is_the_smallest():
    assert accuracy_front([(10, 0.7), (5, 0.7), (20, 0.7)]) == [1]


def _row(stride: int, mode: str, accuracy: float, features: int, shift: float) -> dict:
    return dict(
        resize="native", stride=str(stride), padding="valid", pad_mode="zeros", dilation="1",
        map="sobel", map_kind="magnitude", pool_mode=mode, pool_size="2", pool_stride="2",
        pool_padding="valid", pool_formula="", probe_accuracy=accuracy, probe_features=features,
        probe_train_images=100, probe_test_images=20, shift_images=10, shift_right=shift,
        shift_down=shift / 2, shift_jump=0.0,
    )  # fmt: skip


def test_configuration_words_say_the_setting():
    assert configuration_words(_row(2, "max", 0.9, 10, 0.1)) == "s2 valid · max 2×2"


@pytest.mark.parametrize("columns", [None, ["probe_accuracy", "probe_features"], ["shift_right"]])
def test_measures_figure_draws_the_panels_it_has(columns):
    frame = pd.DataFrame([_row(1, "max", 0.9, 100, 0.3), _row(1, "avg", 0.85, 100, 0.4), _row(2, "max", 0.8, 25, 0.2)])
    if columns:
        frame = frame.drop(columns=columns)
    figure = measures_figure(frame)
    try:
        assert len(figure.axes) == (2 if columns is None else 1)
    finally:
        render.close(figure)


def test_measures_figure_without_measures_refused():
    with pytest.raises(ValueError, match="no probe_accuracy"):
        measures_figure(pd.DataFrame([{"map": "sobel"}]))


def test_measures_figure_probe_labels_never_overlap_when_points_crowd():
    # The real crowd of a 3-stride x 2-padding x max/avg sweep: pairs of points a few pixels apart.
    rows = []
    for stride, features in ((1, 1183), (1, 1372), (2, 252), (2, 343), (3, 112), (3, 175)):
        for mode, accuracy in (("max", 0.81), ("avg", 0.795)):
            row = _row(stride, mode, accuracy + features / 1e6, features, 0.3)
            row["padding"] = "same" if features in (1372, 343, 175) else "valid"
            rows.append(row)
    figure = measures_figure(pd.DataFrame(rows), title="convsweep: measures — mnist (test, 300 images)")
    try:
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        probe = figure.axes[0]
        labels = [text for text in probe.texts if " · " in text.get_text()]
        assert sorted(text.get_text() for text in labels) == sorted(configuration_words(row) for row in rows)
        boxes = [text.get_window_extent(renderer) for text in labels]
        overlapping = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]
        assert overlapping == []
        frame = probe.get_window_extent(renderer)
        assert all(frame.x0 <= box.x0 and box.x1 <= frame.x1 for box in boxes)
        # The title names the sweep and what the panels show; 'measures' only where the sweep's name has it.
        title = figure.get_suptitle()
        assert title.count("measures") == 1 and "linear probe" in title and "shift sensitivity" in title
    finally:
        render.close(figure)
