"""The vector explorer's automatic slices (under the failure clusters), through FiftyOne's
operator machinery: nothing is computed on load, "Find slices" lists exactly what
compute_slices' search returns, and a row click shows exactly that slice."""

import numpy as np

import fiftyone.operators as foo

from tests.test_error_map import compute_error_map, planted_dataset
from tests.test_vector_explorer import VectorClient


def test_find_slices_lists_the_search_and_a_click_shows_the_slice(tmp_path):
    ds, dark = planted_dataset(tmp_path, n=160)
    try:
        compute_error_map(ds, eval_key="eval", level="samples", map_key="smap")
        client = VectorClient(ds, panel_id="mapslices1")
        client.call("on_load")
        assert "map_slices" not in client.data  # opening the panel computes no slice
        client.call("on_find_slices")
        rows = client.data["map_slices"]
        direct = foo.get_operator("@error-atlas/error-atlas/compute_slices")(
            ds, eval_key="eval", source="search")
        assert [r["description"] for r in rows] == [r["description"] for r in direct["rows"]]
        metric = direct["metric"]
        for row, want in zip(rows, direct["rows"]):
            assert row["size"] == want["size"] and row["metric"] == metric
            assert row["value"] == "%.3f [%.3f, %.3f]" % (want["values"][metric], *want["ci"][metric])
            assert row["gap"] == "%+.3f" % want["gap"]
        # the planted failure (dark images, recorded nowhere) is found from the descriptor features
        top = rows[0]["description"]
        client.call("on_map_slice_row", row=0)
        shown = client.view().values("id")
        assert len(shown) == rows[0]["size"] == direct["rows"][0]["size"]
        assert np.mean([dark[i] for i in shown]) >= 0.8, top
        notes = [r["params"]["message"] for r in client.requests if r["operator_uri"].endswith("notify")]
        assert notes and top in notes[0]
    finally:
        ds.delete()


def test_find_slices_on_a_segmentation_map(tmp_path):
    from tests.test_error_map_tasks import segmentation_dataset

    ds, _ = segmentation_dataset(tmp_path, n=64)
    try:
        compute_error_map(ds, eval_key="seg", level="samples", map_key="smap")
        client = VectorClient(ds, panel_id="mapslices2").call("on_load")
        client.call("on_find_slices")
        rows = client.data["map_slices"]
        direct = foo.get_operator("@error-atlas/error-atlas/compute_slices")(
            ds, eval_key="seg", source="search")
        assert rows and direct["metric"] == "mIoU"
        assert [(r["description"], r["size"]) for r in rows] == \
            [(r["description"], r["size"]) for r in direct["rows"]]
        client.call("on_map_slice_row", row=0)
        assert len(client.view()) == rows[0]["size"]
    finally:
        ds.delete()
