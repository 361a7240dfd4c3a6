"""A monitored period's placed images over the vector explorer's points: the trace is the
stored placement on the map's grid, and a click shows those images."""

import numpy as np
import pytest

import fiftyone.operators as foo

from tests import browser
from tests.fodata import evaluate_model, random_dataset
from tests.test_error_map import compute_error_map
from tests.test_vector_explorer import VectorClient, decode, module

DRIFT = "@error-atlas/error-atlas/monitor_drift"


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    """An evaluated dataset with a samples map, and a "production" copy of 30 of its images."""
    ds = random_dataset(seed=31, num_samples=60)
    browser.write_images(ds, tmp_path_factory.mktemp("ov") / "images")
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    compute_error_map(ds, eval_key="eval", level="samples", map_key="smap", num_clusters=4)
    prod = ds.take(30, seed=1).clone()
    yield ds, prod
    for d in (ds, prod):
        if not d.deleted:
            d.delete()


def _expected(ds, prod):
    """The stored placement of the production images, on the map's integer grid."""
    names = module("operators.monitor_map").placed_fields("smap")
    ids, xs, ys = prod.exists(names[1]).values(["id", names[1], names[2]])
    arrays, _ = module("operators.error_map").load_error_map(ds, "smap")
    lo, span = arrays["xy"].min(axis=0), np.ptp(arrays["xy"], axis=0)
    q = np.round((np.c_[xs, ys] - lo) / span * module("operators.error_map").GRID)
    return ids, q.astype(int)


def test_placed_period_is_drawn_over_the_map_and_a_click_names_its_dataset(mapped):
    ds, prod = mapped
    out = foo.get_operator(DRIFT)(prod, eval_dataset=ds.name, map_key="smap", period="all")
    assert out["placement"]["n_period"] == 30
    client = VectorClient(ds, panel_id="ov1").call("on_load")
    i = client.state["overlay_index"]
    assert i == client.state["n_groups"] and client.state["lit_index"] == i + 1
    trace = client.data["scatter"][i]
    assert trace["name"].startswith("production:") and trace["name"].endswith("(30)")
    ids, q = _expected(ds, prod)
    assert len(ids) == 30
    got = np.c_[decode(trace["x"]), decode(trace["y"])]
    assert sorted(map(tuple, got)) == sorted(map(tuple, q))
    assert client.data["scatter"][-1]["name"].startswith("in view")
    client.call("on_point_click", trace_idx=i, idx=0)
    assert prod.name in client.state["overlay_md"] and "30 images" in client.state["overlay_md"]
    assert client.view() is None  # the images are on another dataset
    # a click on the map's own points still selects them
    assert len(client.call("on_point_click", trace_idx=0, idx=0).view()) == 1


def test_period_on_the_same_dataset_is_shown_in_the_grid(mapped):
    ds, prod = mapped
    prod.delete()
    out = foo.get_operator(DRIFT)(ds, map_key="smap", period="all")
    assert out["placement"]["n_period"] == len(ds)
    client = VectorClient(ds, panel_id="ov2").call("on_load")
    i = client.state["overlay_index"]
    ids, q = _expected(ds, ds)
    trace = client.data["scatter"][i]
    got = np.c_[decode(trace["x"]), decode(trace["y"])]
    assert sorted(map(tuple, got)) == sorted(map(tuple, q))
    client.call("on_point_click", trace_idx=i, idx=3)
    placed = module("panels.map_overlay").placed(ds, "smap")
    shown = client.view().values("id")
    assert set(shown) == set(ids) and shown[0] == placed["ids"][3]
    assert "shown in the grid" in client.state["overlay_md"]
