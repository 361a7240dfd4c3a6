"""Same objects, same numbers (issue 11 item 4): every count the two panels show of
one set of objects, through their callbacks, against one definition (panels/counts.py:
TP correct predictions, FP other predictions, FN undetected objects, by object)."""

import re

import numpy as np
import pytest

from plugin import errors
from tests.fodata import evaluate_model, random_dataset
from tests.test_error_map import compute_error_map
from tests.test_panel_callbacks import PanelClient, chosen, detection_run
from tests.test_vector_explorer import VectorClient, decode, module

CONFIDENCE = 0.5  # above the run's own operating point, where the objects map was made
UNDETECTED = (errors.CLASSIFICATION, errors.LOCALIZATION, errors.BOTH, errors.MISSED)


@pytest.fixture(scope="module")
def mapped():
    """An evaluated dataset with an objects map; the evaluation explorer at IoU 0.50,
    confidence :data:`CONFIDENCE` (which the vector explorer then counts at)."""
    ds = random_dataset(seed=41, num_samples=60)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    omap = compute_error_map(ds, eval_key="eval", level="objects", map_key="omap", num_clusters=4)
    ev = detection_run().load_analysis(ds, "eval")
    explorer = PanelClient(ds).call("on_load")
    explorer.call("on_iou", value="0.50").call("on_confidence", value=CONFIDENCE)
    assert float(chosen(explorer, "iou")) == 0.5 and chosen(explorer, "confidence") == CONFIDENCE
    yield ds, ev, explorer, ev.assess(0.5, CONFIDENCE), omap
    ds.delete()


def view_numbers(explorer, view):
    """TP, FP, FN of the evaluation explorer's "In the App's view" table, and what it
    says the grid shows."""
    md = explorer.call("on_change_view", view=view).shown["view_md"]
    got = {k: int(re.search(r"\| %s \| (\d+) \|" % k, md).group(1)) for k in ("TP", "FP", "FN")}
    shows = re.search(r"shows (\d+) predictions and (\d+) ground-truth objects", md).groups()
    return got, tuple(map(int, shows))


def test_a_class_s_missed_objects_are_all_fn_in_the_view(mapped):
    """Show <class> / fn: the grid shows N objects; the view's FN is N (an object
    another class's prediction claimed is an FN too, counted by object)."""
    ds, ev, explorer, a, omap = mapped
    claimed = np.bincount(ev.gt_label[a.gt_error == errors.CLASSIFICATION],
                          minlength=ev.num_classes)
    k = int(np.argmax(claimed))
    assert claimed[k] > 0, "the data must have objects confused by another class"
    explorer.state.update(example_class=ev.classes[k], example_kind="fn")
    view = explorer.call("on_show_examples").view()
    n = int(np.count_nonzero(np.isin(a.gt_error, UNDETECTED) & (ev.gt_label == k)))
    got, shows = view_numbers(explorer, view)
    assert shows == (0, n)
    assert got == {"TP": 0, "FP": 0, "FN": n}


def test_a_cluster_has_the_numbers_of_its_view_in_both_panels(mapped):
    """A failure cluster's TP / FP / FN in the vector explorer equal the evaluation
    explorer's for the view the cluster shows, and the clusters add up to the run."""
    ds, ev, explorer, a, omap = mapped
    client = VectorClient(ds).call("on_load")
    total = np.zeros(3, dtype=np.int64)
    for row in range(omap["num_clusters"]):
        client.call("on_cluster_row", row=row)
        assert client.state["cluster_op"] == {"iou": 0.5, "confidence": CONFIDENCE}
        tp, fp, fn = map(int, re.search(r"(\d+) TP, (\d+) FP, (\d+) FN in the cluster",
                                        client.state["cluster_report_md"]).groups())
        got, _ = view_numbers(explorer, client.view())
        assert got == {"TP": tp, "FP": fp, "FN": fn}, row
        total += (tp, fp, fn)
    tp = np.count_nonzero(a.pred_error == errors.CORRECT)
    fp = np.count_nonzero(a.pred_error > errors.CORRECT)
    fn = np.count_nonzero(np.isin(a.gt_error, UNDETECTED))
    assert total.tolist() == [tp, fp, fn]


def test_the_rings_count_every_object_of_a_view(mapped):
    """A Not-detected cell (or a class's missed objects) set in the evaluation
    explorer lights one point per object, also for an object the map has no point
    for (detected where the map was made): its detecting prediction's."""
    ds, ev, explorer, a, omap = mapped
    selection = module("panels.selection")
    config = ds.get_evaluation_info("eval").config
    K = ev.num_classes
    k = int(np.argmax(a.confusion[:K, K]))
    preds, gts = selection.cell_ids(ev, a, k, K)
    assert len(gts) == a.confusion[k, K] > 0 and not preds
    view = selection.objects_view(ds, config, preds, gts, selection.OBJECTS, paired=True)
    map_a = ev.assess(config.iou, module("operators.detection_run").analysis_info(
        ds, "eval")["confidence"])
    assert np.count_nonzero(map_a.gt_error[np.isin(ev.gt_ids, gts)] == errors.CORRECT) > 0, \
        "some of the cell's objects were detected where the map was made"
    client = VectorClient(ds).call("on_load")
    client.call("on_change_view", view=view)
    assert client.highlight()["name"] == "in view (%d)" % a.confusion[k, K]
    assert len(decode(client.highlight()["x"])) == a.confusion[k, K]
