"""The vector explorer's cluster texts: one label per operating point, p-values that
read the same in the table and the report and never wrap mid-number."""

import re

import pytest

from tests.test_error_map import compute_error_map, planted_dataset
from tests.test_vector_explorer import VectorClient, set_explorer_choices


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    ds, _ = planted_dataset(tmp_path_factory.mktemp("texts"), n=40)
    compute_error_map(ds, eval_key="eval", level="objects", map_key="omap", num_clusters=4)
    yield ds
    set_explorer_choices(ds)
    ds.delete()


def report(ds, **choices):
    set_explorer_choices(ds, **choices)
    client = VectorClient(ds).call("on_load")
    client.call("on_cluster_row", row=0)
    return client.state["cluster_report_md"]


def test_an_optimum_and_the_slider_step_next_to_it_read_differently(mapped):
    """An off-step confidence (an optimum, 0.5056) is written with its decimals, as
    the evaluation explorer writes it; the slider's step 0.51 with two."""
    off = report(mapped, iou="0.50", confidence=0.5056)
    on = report(mapped, iou="0.50", confidence=0.51)
    assert off.startswith("At confidence **0.5056**, IoU **0.50**"), off
    assert on.startswith("At confidence **0.51**, IoU **0.50**"), on


def test_p_values_read_alike_in_the_table_and_the_report(mapped):
    client = VectorClient(mapped).call("on_load")
    rows = client.data["clusters"]
    assert all(re.fullmatch(r"< 0\.0001|1|0(\.\d+)?", r["p_value"])
               for r in rows), [r["p_value"] for r in rows]
    assert rows[0]["p_value"] == "< 0.0001"  # the planted cause: a tiny p-value
    client.call("on_cluster_row", row=0)
    text = client.state["cluster_md"]
    assert "Benjamini-Hochberg q < 0.0001" in text and not re.search(r"\de-\d", text), text
