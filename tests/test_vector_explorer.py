"""The vector explorer's callbacks through FiftyOne's operator machinery."""

import numpy as np
import pytest

import fiftyone as fo

from tests.test_error_map import compute_error_map, planted_dataset
from tests.test_panel_callbacks import PanelClient

PANEL = "@error-atlas/error-atlas/vector_explorer"


class VectorClient(PanelClient):
    def __init__(self, dataset, panel_id="v1"):
        super().__init__(dataset, panel_id, panel=PANEL)

    def points(self):
        return sum(len(t["x"]) for t in self.data["scatter"] if not t["name"].startswith("in view"))


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    ds, dark = planted_dataset(tmp_path_factory.mktemp("vx"), n=60)
    summary = compute_error_map(ds, eval_key="eval", level="samples", map_key="vmap")
    return ds, summary


def test_no_map_offers_to_compute_one(tmp_path):
    ds, _ = planted_dataset(tmp_path, n=6)
    client = VectorClient(ds).call("on_load")
    assert client.state["map_key"] is None


def test_every_point_is_drawn_and_coloured_by_error_type(mapped):
    ds, summary = mapped
    client = VectorClient(ds).call("on_load")
    assert client.state["map_key"] == "vmap" and client.points() == len(ds)
    names = [t["name"].split(" (")[0] for t in client.data["scatter"]]
    assert "missed" in names and "correct" in names
    assert all(t["type"] == "scattergl" for t in client.data["scatter"])
    client.call("on_color", value="cluster", path="color_by")
    assert client.points() == len(ds)
    assert len(client.data["scatter"]) == summary["num_clusters"]


def test_choosing_a_failure_cluster_shows_its_samples(mapped):
    ds, summary = mapped
    client = VectorClient(ds).call("on_load")
    client.call("on_cluster_row", row=0)
    top = summary["failure_clusters"][0]
    assert client.view().count() == top["size"]
    assert "Cluster %d" % top["id"] in client.state["cluster_md"]
    client.call("on_tag_cluster")
    assert ds.count_sample_tags().get("vmap_cluster_%d" % top["id"]) == top["size"]


def test_box_selection_shows_exactly_the_selected_points(mapped):
    ds, _ = mapped
    client = VectorClient(ds).call("on_load")
    first = client.data["scatter"][0]
    picked = [{"trace": 0, "idx": i} for i in range(min(5, len(first["x"])))]
    client.call("on_selected", data=picked)
    assert client.view().count() == len(picked)
    client.call("on_selected", data=[])  # an empty selection (plain click) changes nothing
    assert not any(r["operator_uri"].endswith("set_view") for r in client.requests)


def test_a_view_set_elsewhere_highlights_its_points(mapped):
    ds, _ = mapped
    client = VectorClient(ds).call("on_load")
    missed = ds.match(fo.ViewField("eval_fn") > 0)
    client.call("on_change_view", view=missed)
    highlight = [t for t in client.data["scatter"] if t["name"].startswith("in view")]
    assert highlight and len(highlight[0]["x"]) == len(missed)
    np.testing.assert_array_less(0, len(missed))
