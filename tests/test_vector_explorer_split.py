"""The vector explorer's "Split cluster", "Undo split" and "More clusters" through FiftyOne's
operator machinery, on a real dataset, checked against the stored map."""

import pytest

from fiftyone import ViewField as F

from tests.test_error_map import compute_error_map, planted_dataset
from tests.test_vector_explorer import VectorClient, module, trace_count


def rendered(client):
    out = next(r["params"]["output"] for r in client.requests
               if r["operator_uri"].endswith("show_panel_output"))
    return out["type"]["properties"]


def buttons(client):
    out = rendered(client)
    return [b for row in ("selection_row", "split_row") for b in out[row]["type"]["properties"]]


def notices(client):
    return [(r["params"]["message"], r["params"].get("variant")) for r in client.requests
            if r["operator_uri"].endswith("notify")]


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    ds, dark = planted_dataset(tmp_path_factory.mktemp("vx-split"), n=240, seed=11)
    compute_error_map(ds, eval_key="eval", level="samples", map_key="smap", num_clusters=2)
    yield ds, dark
    ds.delete()


def table(client):
    return [(r["rank"], r["size"], r["p_value"], r["excess"]) for r in client.data["clusters"]]


def stored_table(ds):
    m = module("panels.map_data").load(ds, "smap")
    p_text = module("panels.cluster_report").p_text
    return [(r, s["size"], p_text(s["p_value"]), round(s["excess_errors"], 1))
            for r, s in enumerate(m.summaries, start=1)]


def test_split_cluster_redraws_the_list_and_the_map_and_undo_restores_them(mapped):
    ds, dark = mapped
    client = VectorClient(ds).call("on_load")
    assert "split" in buttons(client) and "undo_split" not in buttons(client)
    before = table(client)
    assert before == stored_table(ds) and len(before) == 2
    revision = client.layout()["datarevision"]

    client.call("on_split_cluster")  # nothing chosen: a notice, nothing changed
    assert notices(client) == [("Choose a cluster in the table first, then split it", "warning")]
    assert table(client) == before

    row = max(range(2), key=lambda r: before[r][1])  # the larger cluster
    client.call("on_cluster_row", row=row)
    chosen = client.state["cluster"]
    client.call("on_split_cluster")
    after = table(client)
    assert after == stored_table(ds) and len(after) > 2
    assert sum(r[1] for r in after) == len(ds)
    # the clusters' sizes: the other cluster unchanged, the chosen one's pieces add up
    m = module("panels.map_data").load(ds, "smap")
    pieces = [chosen] + list(range(2, len(m.summaries)))
    sizes = {s["id"]: s["size"] for s in m.summaries}
    assert sum(sizes[c] for c in pieces) == before[row][1]
    # the field on the samples holds the new clusters
    assert ds.count_values("smap_cluster") == sizes
    # what the split made, numbered by rank, with each piece's significance
    (message, variant), = notices(client)
    assert variant == "success" and message == client.state["split_md"]
    assert message.startswith("Split cluster #%d into #" % (row + 1))
    assert message.count("#") == 1 + len(pieces)
    assert client.state["cluster"] is None and client.state["split_count"] == 1
    assert "undo_split" in buttons(client) and "reset_clusters" not in buttons(client)
    assert "split_md" in rendered(client)
    # the map is sent again (a new data revision); coloured by cluster, one entry per cluster
    assert client.layout()["datarevision"] != revision
    client.call("on_color", value="cluster", path="color_by")
    groups = client.groups()
    assert [trace_count(t) for t in groups] == [s["size"] for s in m.summaries]
    assert client.points() == len(ds)
    # the dark images (a planted cause) are the top cluster's after the split too
    top = m.summaries[0]
    members = ds.match(F("smap_cluster") == top["id"]).values("id")
    assert top["significant"] and sum(dark[i] for i in members) / len(members) > 0.8

    # a second split, then "Reset clusters" brings back the map as computed
    client.call("on_cluster_row", row=0)
    client.call("on_split_cluster")
    assert client.state["split_count"] == 2 and "reset_clusters" in buttons(client)
    client.call("on_undo_split")
    assert client.state["split_count"] == 1 and client.state["split_md"] == "Last split undone."
    assert table(client) == after
    client.call("on_reset_clusters")
    assert table(client) == before and client.state["split_count"] == 0
    assert "undo_split" not in buttons(client)
    assert ds.count_values("smap_cluster") == {
        s["id"]: s["size"] for s in module("panels.map_data").load(ds, "smap").summaries}


def test_a_split_that_cannot_be_made_is_a_notice_and_changes_nothing(mapped):
    ds, _ = mapped
    client = VectorClient(ds, panel_id="v2").call("on_load")
    client.call("on_cluster_row", row=0)
    before = table(client)
    client.call("on_undo_split")
    assert notices(client) == [("Map 'smap' has no split to undo.", "error")]
    assert table(client) == before


def test_more_clusters_asks_compute_error_map_for_this_map_with_four_more(mapped):
    ds, _ = mapped
    client = VectorClient(ds, panel_id="v3").call("on_load")
    client.call("on_more_clusters")
    (req,) = [r for r in client.requests if "prompt" in r["operator_uri"]]
    assert req["params"]["params"] == {"eval_key": "eval", "level": "samples", "map_key": "smap",
                                       "embeddings": "descriptor", "num_clusters": 6}


def test_a_split_objects_map_shows_each_new_cluster_with_exactly_its_objects(tmp_path):
    ds, _ = planted_dataset(tmp_path, n=120, seed=3)
    try:
        compute_error_map(ds, eval_key="eval", level="objects", map_key="omap", num_clusters=2)
        client = VectorClient(ds, panel_id="v4").call("on_load")
        client.call("on_cluster_row", row=0)
        client.call("on_split_cluster")
        m = module("panels.map_data").load(ds, "omap")
        assert client.state["split_count"] == 1 and len(client.data["clusters"]) == len(m.summaries)
        for row, s in enumerate(m.summaries):
            client.call("on_cluster_row", row=row)
            shown = module("panels.vector_explorer")._ids_in_view(client.view(), m.config)
            want = set()
            for f in ("predictions", "ground_truth"):
                ids, cl = ds.values([f + ".detections.id", f + ".detections.omap_cluster"],
                                    unwind=True)
                want.update(i for i, c in zip(ids, cl) if c == s["id"])
            assert shown == want and len(want) >= s["size"], row
    finally:
        ds.delete()
