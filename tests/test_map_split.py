"""Splitting a stored error map's cluster (operators/map_split.py) on real FiftyOne datasets:
the fields, the run and the statistics against the engine, undo, and bad input."""

import sys

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo

from tests.fodata import snapshot
from tests.test_error_map import URI, compute_error_map, planted_dataset


def module(suffix):
    """The plugin's module as FiftyOne imported it (a test may also have imported
    ``operators.*`` from the checkout: another module, other exception classes)."""
    foo.get_operator(URI)
    return next(m for n, m in sys.modules.items()
                if n.startswith("fiftyone.plugins.") and n.endswith(suffix))


def stored(ds, map_key):
    """The run's clusters by point id, its summaries, and the field's clusters by id."""
    em = module("operators.error_map")
    arrays, summaries = em.load_error_map(ds, map_key)
    by_point = dict(zip(arrays["ids"].tolist(), arrays["cluster"].tolist()))
    return by_point, summaries


def field_clusters(ds, map_key, level):
    if level == "samples":
        return dict(zip(ds.values("id"), ds.values(map_key + "_cluster")))
    out = {}
    for f in ("predictions", "ground_truth"):
        ids, cl = ds.values([f + ".detections.id", f + ".detections.%s_cluster" % map_key],
                            unwind=True)
        out.update(zip(ids, cl))
    return out


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    ds, dark = planted_dataset(tmp_path_factory.mktemp("split"), n=320, seed=7)
    compute_error_map(ds, eval_key="eval", level="samples", map_key="smap", num_clusters=2)
    yield ds, dark
    ds.delete()


def test_split_rewrites_the_cluster_field_and_the_run_and_retests_every_cluster(mapped):
    ds, dark = mapped
    ms, em = module("operators.map_split"), module("operators.error_map")
    engine_split, descriptors = module("plugin.split"), module("plugin.descriptors")
    summaries_mod = module("plugin.descriptions")
    before, old_summaries = stored(ds, "smap")
    big = max(old_summaries, key=lambda s: s["size"])["id"]
    out = ms.split_map_cluster(ds, "smap", big)
    try:
        after, summaries = stored(ds, "smap")
        assert out["new_ids"] and min(out["new_ids"]) == 2  # after the two clusters
        # the other cluster keeps its id and members; the split one's go to its pieces
        for i, c in before.items():
            assert after[i] == c if c != big else after[i] in [big] + out["new_ids"]
        # the field on the samples says the same as the run
        assert field_clusters(ds, "smap", "samples") == after
        # the pieces are the engine's split of the stored features (the map's descriptor)
        arrays, _ = em.load_error_map(ds, "smap", features=True)
        np.testing.assert_array_equal(arrays["features"], np.asarray(ds.values("smap_embedding"),
                                                                     dtype=np.float32))
        assert "features" not in em.load_error_map(ds, "smap")[0]  # the panel never reads them
        points = em.evaluated_points(ds, "eval", "samples")[0]
        expected = em._expected_failure(points)
        labels, ids = engine_split.split_cluster(
            np.array([before[i] for i in arrays["ids"]]), big,
            descriptors.normal_scores(arrays["features"]), seed=51,
            error_type=em._codes(points), **expected)
        assert ids.tolist() == out["new_ids"]
        np.testing.assert_array_equal(labels, arrays["cluster"])
        # every cluster tested again (Benjamini-Hochberg over all), described as the map's are
        direct = summaries_mod.summarize_clusters(
            labels, em._codes(points), points["label"], ["shape"], features=arrays["features"],
            feature_names=em._feature_names("samples"), **expected)
        assert [(s.id, s.rank, s.size, s.significant) for s in direct] == \
            [(s["id"], s["rank"], s["size"], s["significant"]) for s in summaries]
        assert [s.p_value for s in direct] == pytest.approx([s["p_value"] for s in summaries])
        assert len(summaries) == 2 + len(out["new_ids"]) and out["clusters"] == summaries
        assert ms.map_splits(ds, "smap") == [{"cluster": big, "new_ids": out["new_ids"]}]
        # the dark images, a planted cause, are the top failure cluster's (precision)
        top = summaries[0]
        members = [i for i, c in after.items() if c == top["id"]]
        assert top["significant"] and np.mean([dark[i] for i in members]) > 0.8
    finally:
        ms.undo_map_split(ds, "smap", reset=True)
    restored, restored_summaries = stored(ds, "smap")
    assert restored == before and restored_summaries == old_summaries
    assert field_clusters(ds, "smap", "samples") == before
    assert ms.map_splits(ds, "smap") == []


def test_undo_goes_back_one_split_and_reset_to_the_map_as_computed(mapped):
    ds, _ = mapped
    ms = module("operators.map_split")
    first, first_summaries = stored(ds, "smap")
    a = ms.split_map_cluster(ds, "smap", 0, num_clusters=2)
    second, second_summaries = stored(ds, "smap")
    b = ms.split_map_cluster(ds, "smap", a["new_ids"][0], num_clusters=3)
    assert b["new_ids"] == [a["new_ids"][0] + 1, a["new_ids"][0] + 2]
    assert len(ms.map_splits(ds, "smap")) == 2
    assert ds.get_run_info("error_map_smap").config.num_splits == 2
    # the split's own writes do not make the evaluation look stale
    from tests.test_panel_callbacks import PanelClient

    assert PanelClient(ds, "split-stale").call("on_load").state["stale"] is None
    assert ms.undo_map_split(ds, "smap")["undone"] == 1
    assert stored(ds, "smap") == (second, second_summaries)
    assert field_clusters(ds, "smap", "samples") == second
    ms.split_map_cluster(ds, "smap", 1)
    assert ms.undo_map_split(ds, "smap", reset=True)["undone"] == 2
    assert stored(ds, "smap") == (first, first_summaries)
    assert field_clusters(ds, "smap", "samples") == first


def test_bad_input_and_a_failed_write_change_nothing(mapped, monkeypatch):
    ds, _ = mapped
    ms, em = module("operators.map_split"), module("operators.error_map")
    errors = module("operators.errors")
    before, before_stored = snapshot(ds), stored(ds, "smap")
    for call, pattern in (
        (lambda: ms.split_map_cluster(ds, "smap", 9), "has no cluster 9: its clusters are 0, 1"),
        (lambda: ms.split_map_cluster(ds, "smap", 0, num_clusters=1), "num_clusters must be"),
        (lambda: ms.split_map_cluster(ds, "nope", 0), "No complete error map 'nope'"),
        (lambda: ms.undo_map_split(ds, "smap"), "has no split to undo"),
    ):
        with pytest.raises(errors.EvaluationInputError, match=pattern):
            call()
        assert snapshot(ds) == before and stored(ds, "smap") == before_stored
    # the results fail to save after the fields were written: the fields are put back

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(em, "save_results", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        ms.split_map_cluster(ds, "smap", 0)
    monkeypatch.undo()
    assert stored(ds, "smap") == before_stored
    assert field_clusters(ds, "smap", "samples") == before_stored[0]


def test_a_map_without_stored_features_asks_to_be_computed_again(tmp_path):
    ds, _ = planted_dataset(tmp_path, n=40)
    try:
        compute_error_map(ds, eval_key="eval", level="samples", map_key="old", num_clusters=2)
        em, ms = module("operators.error_map"), module("operators.map_split")
        assert "map_features_old" in ds.list_runs()
        ds.delete_run("map_features_old")  # as an older map stored it
        with pytest.raises(module("operators.errors").EvaluationInputError,
                           match="computed before clusters could be split"):
            ms.split_map_cluster(ds, "old", 0)
    finally:
        ds.delete()


def test_split_of_an_objects_map_moves_its_objects_and_the_objects_they_detected(tmp_path):
    ds, _ = planted_dataset(tmp_path, n=120, seed=3)
    try:
        compute_error_map(ds, eval_key="eval", level="objects", map_key="omap", num_clusters=2)
        ms = module("operators.map_split")
        before, _ = stored(ds, "omap")
        fields_before = field_clusters(ds, "omap", "objects")
        big = max(set(before.values()), key=list(before.values()).count)
        out = ms.split_map_cluster(ds, "omap", big)
        after, summaries = stored(ds, "omap")
        fields = field_clusters(ds, "omap", "objects")
        assert {i: fields[i] for i in after} == after  # every point's label carries its piece
        assert sorted(s["id"] for s in summaries) == sorted({0, 1, *out["new_ids"]})
        # a ground-truth object detected by a prediction is in that prediction's cluster
        ids, dets = ds.values(["ground_truth.detections.id", "ground_truth.detections.eval_id"],
                              unwind=True)
        pred_of = dict(zip(ids, dets))
        detected = [i for i in ids if i not in after and pred_of[i] and pred_of[i] in after]
        assert detected and all(fields[i] == after[pred_of[i]] for i in detected)
        # labels that are no points and detected nothing keep None
        assert all(fields[i] == fields_before[i] for i in fields if fields_before[i] is None)
        ms.undo_map_split(ds, "omap")
        assert field_clusters(ds, "omap", "objects") == fields_before
    finally:
        ds.delete()


def test_split_cluster_operator_from_python_by_the_number_shown(mapped):
    ds, _ = mapped
    op = foo.get_operator("@error-atlas/error-atlas/split_cluster")
    before = stored(ds, "smap")
    second = before[1][1]["id"]  # the cluster numbered #2
    out = op(ds, map_key="smap", cluster=2, num_clusters=2)
    assert out["cluster"] == second and len(out["new_ids"]) == 1
    assert stored(ds, "smap")[1] == out["clusters"]
    assert op(ds, map_key="smap", action="undo")["undone"] == 1
    assert stored(ds, "smap") == before
    with pytest.raises(Exception, match="cluster must be a cluster's number from 1 to 2"):
        op(ds, map_key="smap", cluster=3)
    with pytest.raises(Exception, match="No complete error map 'nope'"):
        op(ds, map_key="nope", cluster=1)
    with pytest.raises(Exception, match="action must be one of"):
        op(ds, map_key="smap", action="merge")
    assert stored(ds, "smap") == before
