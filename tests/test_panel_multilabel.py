"""The evaluation explorer on a multi-label run, through FiftyOne's operator
machinery (what the App calls): every slider step equals the engine
(plugin/multilabel.py) and scikit-learn, and a cell shows exactly its images."""

import numpy as np
import pytest
import sklearn.metrics as skm

from tests.fodata import evaluate_model
from tests.test_multilabel_model import multilabel_dataset
from tests.test_panel_callbacks import PanelClient
from tests.test_panel_tasks import engine_of, notified, steps

STEPS = range(0, 101, 9)


@pytest.fixture(scope="module")
def labelled():
    ds = multilabel_dataset(seed=6, n=400, classes=["c%d" % k for k in range(6)])
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ml")
    yield ds, engine_of(ds, "ml")
    ds.delete()


def test_a_multilabel_run_is_listed_and_shown_at_its_optimal_threshold(labelled):
    ds, ev = labelled
    client = PanelClient(ds, "m_load").call("on_load")
    assert client.state["runs"] == ["ml"] and client.shown["task"] == "multilabel"
    best = ev.optimal_thresholds()["overall"]
    assert client.shown["choices"]["confidence"] == pytest.approx(best)
    pred = ev.assess(best).predicted
    summary = client.shown["current"]["sections"]["summary"]
    assert "| %.3f | %.3f | %.3f | %.3f |" % (
        skm.f1_score(ev.gt, pred, average="micro"), skm.f1_score(ev.gt, pred, average="macro"),
        skm.accuracy_score(ev.gt, pred), skm.hamming_loss(ev.gt, pred)) in summary
    assert "the optimal threshold" in summary


def test_every_step_is_the_engine_s_and_sklearn_s(labelled):
    ds, ev = labelled
    data = steps(PanelClient(ds, "m_steps").call("on_load"))
    names = data["classes"]["x"]
    idx = [ev.classes.index(c) for c in names]
    rows = [ev.classes.index(c) for c in data["confusion"]["trace"]["y"]]
    assert data["confusion"]["trace"]["x"][-1] == "Missed"
    line = data["threshold"]["traces"]
    assert [t["name"] for t in line] == ["Micro precision", "Micro recall", "Micro F1"]
    for j in STEPS:
        c = data["thresholds"][j]
        a = ev.assess(c)
        mcm = skm.multilabel_confusion_matrix(ev.gt, a.predicted)
        tp, fp, fn = mcm[:, 1, 1], mcm[:, 0, 1], mcm[:, 1, 0]
        assert data["classes"]["grid"][j] == [tp[idx].tolist(), fp[idx].tolist(), fn[idx].tolist()]
        conf = ev.class_confusion(c)
        assert np.array_equal(data["confusion"]["grid"][j], conf[np.ix_(rows, rows + [ev.num_classes])])
        counts = a.error_counts()
        assert data["sections"]["errors"]["grid"][j] == [counts[n] for n in
                                                         data["sections"]["errors"]["trace"]["x"]]
        p, r, f, _ = skm.precision_recall_fscore_support(ev.gt, a.predicted, zero_division=0)
        for k, moving in zip(idx, data["sections"]["table"]["grid"][j]):
            assert moving == pytest.approx([p[k], r[k], f[k]], abs=1e-4)
        assert data["points"]["grid"][j][:3] == [int(tp.sum()), int(fp.sum()), int(fn.sum())]


def test_a_cell_shows_exactly_its_images(labelled):
    ds, ev = labelled
    client = PanelClient(ds, "m_cell").call("on_load")
    c = client.shown["choices"]["confidence"]
    pred = ev.assess(c).predicted
    t, p = 0, 1
    client.call("on_cell_click", y=ev.classes[t], x=ev.classes[p])
    shown = client.view().values("id")
    mask = ev.gt[:, t] & pred[:, p] & ~ev.gt[:, p]
    assert shown == ev.sample_ids[mask].tolist() and len(shown) == int(ev.class_confusion(c)[t, p])
    assert notified(client)[-1].startswith("Showing %d " % len(shown))
    client.call("on_cell_click", y=ev.classes[t], x="Missed")
    assert client.view().values("id") == ev.sample_ids[ev.gt[:, t] & ~pred[:, t]].tolist()


def test_error_examples_tag_and_reevaluate(labelled):
    ds, ev = labelled
    client = PanelClient(ds, "m_examples").call("on_load")
    c = client.shown["choices"]["confidence"]
    pred = ev.assess(c).predicted
    k = 2
    client.change(example_class=ev.classes[k], example_kind="spurious")
    client.call("on_show_examples")
    spurious = ev.sample_ids[pred[:, k] & ~ev.gt[:, k]].tolist()
    assert client.view().values("id") == spurious and spurious
    client.call("on_tag_examples")
    tagged = ds.match_labels(tags="needs_review", fields="ground_truth").values("id")
    assert set(tagged) <= set(spurious)  # images with ground-truth labels to tag
    assert "**%d images**" % len(spurious) in client.shown["notice"]["examples"]
    ds.untag_labels("needs_review", label_fields="ground_truth")
    client.call("on_evaluate")
    (req,) = [r for r in client.requests if "prompt" in r["operator_uri"]]
    params = req["params"]["params"]
    assert (params["pred_field"], params["gt_field"], params["eval_key"]) == \
        ("predictions", "ground_truth", "ml")
