"""A region of the error map: the points inside it, the boxes covering exactly them, and
the App view they give, checked against the view listing the points' ids."""

import numpy as np
import pytest
from matplotlib.path import Path

from tests.test_vector_explorer import is_compact, mapped, plugin_module  # noqa: F401


def region():
    return plugin_module("panels.map_region")


def covered(q, boxes):
    got = np.zeros(len(q), bool)
    for x0, x1, y0, y1 in boxes:
        got |= (q[:, 0] >= x0) & (q[:, 0] <= x1) & (q[:, 1] >= y0) & (q[:, 1] <= y1)
    return got


@pytest.fixture(scope="module")
def grid():
    rng = np.random.default_rng(5)
    xy = np.r_[rng.normal(0, 1, (20000, 2)), rng.normal(3, 0.5, (5000, 2))]
    return np.round((xy - xy.min(0)) / np.ptp(xy, axis=0) * 9999).astype(np.int64)


def test_a_box_selection_is_one_box(grid):
    mr = region()
    inside = mr.points_in(grid, box=(6100.5, 3000, 2000, 5000.2))  # corners in drag order
    assert inside.sum() == ((grid[:, 0] >= 3000) & (grid[:, 0] <= 6100.5) & (grid[:, 1] >= 2000)
                            & (grid[:, 1] <= 5000.2)).sum() > 1000
    boxes = mr.cover(grid, inside)
    assert len(boxes) == 1 and (covered(grid, boxes) == inside).all()


@pytest.mark.parametrize("radius", [300, 1500, 4000])
def test_boxes_cover_exactly_a_lasso(grid, radius):
    mr = region()
    t = np.linspace(0, 2 * np.pi, 40)
    xs, ys = 5000 + radius * np.cos(t) * (1 + 0.3 * np.sin(5 * t)), 5000 + radius * np.sin(t)
    inside = mr.points_in(grid, lasso=(xs, ys))
    np.testing.assert_array_equal(inside, Path(np.c_[xs, ys]).contains_points(grid))
    boxes = mr.cover(grid, inside, max_boxes=10 ** 6)
    assert inside.any() and (covered(grid, boxes) == inside).all()
    assert all(isinstance(v, int) for b in boxes for v in b)


def test_inseparable_or_scattered_selections_have_no_cover(grid):
    mr = region()
    twins = np.array([[5, 5], [5, 5], [9, 9]])
    assert mr.cover(twins, np.array([True, False, True])) is None
    every_other = np.zeros(len(grid), bool)
    every_other[::2] = True
    assert mr.cover(grid, every_other) is None  # more than MAX_BOXES
    assert mr.cover(grid, np.zeros(len(grid), bool)) == []
    assert not mr.points_in(grid, lasso=([0, 1], [0, 1])).any()  # not a polygon


def label_ids(view, config):
    if view._is_patches:
        field = config.pred_field if view.has_field(config.pred_field) else config.gt_field
        return sorted(view.values(field + ".id"))
    return sorted(view.values(config.pred_field + ".detections.id", unwind=True) +
                  view.values(config.gt_field + ".detections.id", unwind=True))


@pytest.mark.parametrize("seed", range(4))
def test_region_views_equal_the_views_of_the_points_ids(mapped, seed):  # noqa: F811
    """Samples and objects maps; boxes, lassos, one field's objects, clusters: the
    query view shows exactly what the id view shows, and is small."""
    ds = mapped[0]
    mr = region()
    md = plugin_module("panels.map_data")
    rng = np.random.default_rng(seed)
    for key in ("smap", "omap"):
        m = md.load(ds, key)
        x0, y0 = rng.integers(0, 6000, 2)
        inside = mr.points_in(m.q, box=(x0, x0 + 4000, y0, y0 + 4000))
        t = np.linspace(0, 2 * np.pi, 12)
        lasso = mr.points_in(m.q, lasso=(x0 + 2000 + 2500 * np.cos(t), y0 + 2000 + 2500 * np.sin(t)))
        cases = [np.flatnonzero(inside), np.flatnonzero(lasso)]
        if key == "omap":
            cases.append(np.flatnonzero(inside & (m.arrays["kind"] == 1)))  # missed objects only
        for idx in cases:
            if not len(idx):
                continue
            view, by_ids = mr.view_of(ds, m, idx), mr._ids_view(ds, m, idx)
            assert is_compact(view, 60000)
            assert view._is_patches == by_ids._is_patches
            assert view.count() == by_ids.count()
            if key == "smap":
                assert sorted(view.values("id")) == sorted(m.arrays["ids"][idx])
            else:
                assert label_ids(view, m.config) == label_ids(by_ids, m.config) == sorted(
                    m.arrays["ids"][idx])
        c = int(m.arrays["cluster"][rng.integers(len(m))])
        members = np.flatnonzero(m.arrays["cluster"] == c)
        view = mr.view_of(ds, m, members, cluster=c)
        assert is_compact(view) and view.count() == mr._ids_view(ds, m, members).count()


def test_maps_without_stored_coordinates_select_by_ids(mapped):  # noqa: F811
    ds = mapped[0].clone()
    try:
        mr = region()
        m = plugin_module("panels.map_data").load(ds, "smap")
        ds.delete_sample_fields(["smap_x", "smap_y", "smap_cluster"])
        idx = np.flatnonzero(m.q[:, 0] < 5000)
        view = mr.view_of(ds, m, idx, cluster=None)
        assert [type(s).__name__ for s in view._stages] == ["Select"]
        assert sorted(view.values("id")) == sorted(m.arrays["ids"][idx])
        assert mr.view_of(ds, m, idx[:3], cluster=0).count() == 3
    finally:
        ds.delete()
