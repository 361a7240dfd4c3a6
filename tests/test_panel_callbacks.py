"""The evaluation explorer's callbacks, run through FiftyOne's operator machinery
(what the App calls), checked against the engine. Browser tests are separate."""

import copy
import sys

import fiftyone.operators as foo
import numpy as np
import pytest

from plugin import errors
from tests.fodata import evaluate_model, random_dataset

PANEL = "@error-atlas/error-atlas/evaluation_explorer"


class PanelClient:
    """Calls panel methods like the App does and keeps the state it is sent."""

    def __init__(self, dataset, panel_id="p1", panel=PANEL):
        self.dataset, self.panel_id, self.panel = dataset, panel_id, panel
        self.state, self.data, self.requests = {}, {}, []

    def call(self, method, view=None, **params):
        """``view``: the App's current view when the event fires (default: all)."""
        result = foo.execute_operator(self.panel, ctx=dict(
            view=view if view is not None else self.dataset.view(), params={
                "__method__": method, "panel_id": self.panel_id, "panel_state": self.state,
                **params}))
        assert result.error is None, result.error
        self.requests = result.executor.to_json()["requests"]
        for req in self.requests:
            name = req["operator_uri"].split("/")[-1]
            if name == "patch_panel_state":
                self.state.update(req["params"]["state"])
            elif name == "patch_panel_data":
                _merge(self.data, req["params"]["data"])
        return self

    @property
    def shown(self):
        """What the panel shows (texts, layouts...): kept in the plugin's process,
        outside the panel state."""
        panel = next(m for n, m in sys.modules.items()
                     if n.startswith("fiftyone.plugins.") and n.endswith("panels.evaluation_explorer"))
        return panel._outputs[self.panel_id]

    def change(self, **choices):
        """The user changes inputs in the App: local state first, then ``on_change``."""
        self.state.update(choices)
        return self.call("on_change")

    def view(self):
        """The view the last call asked the App to show."""
        for req in self.requests:
            if req["operator_uri"].endswith("set_view"):
                import fiftyone.core.view as fov
                return fov.DatasetView._build(self.dataset, req["params"]["view"])
        return None


def _merge(old, new):
    """Panel data patches merge into what the App holds, dicts key by key; a
    dotted key sets that path."""
    for k, v in new.items():
        if "." in k:  # a path: list items by index, as the App sets them
            *path, last = k.split(".")
            node = old
            for part in path:
                node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
            node[int(last) if isinstance(node, list) else last] = v
        elif isinstance(v, dict) and isinstance(old.get(k), dict):
            _merge(old[k], v)
        else:
            old[k] = v


def chosen(client, key):
    """The panel's confidence or IoU: chosen in the browser, sent as events, held
    by the panel's process (never in the panel state)."""
    return client.shown["choices"][key]


def op(client, iou=None):
    """The operating-point component's data at the panel's IoU (or ``iou``): every
    slider step (the current point goes with the render, ``client.shown["current"]``)."""
    iou = float(chosen(client, "iou") if iou is None else iou)
    return client.data[client.shown["op_key"]]["ious"]["i%02d" % round(100 * iou)]


@pytest.fixture
def evaluated():
    """A fresh evaluated dataset per test: the panel remembers choices per dataset."""
    ds = random_dataset(seed=31, num_samples=60)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    return ds, detection_run().load_analysis(ds, "eval")


def detection_run():
    """The plugin's ``operators.detection_run`` module, as FiftyOne loaded it."""
    import sys

    foo.get_operator("@error-atlas/error-atlas/evaluate_model")
    return next(m for n, m in sys.modules.items() if n.endswith("operators.detection_run"))


def test_no_evaluation_offers_to_run_one():
    ds = random_dataset(seed=32, num_samples=5)
    client = PanelClient(ds).call("on_load")
    assert client.state["eval_key"] is None
    client.call("on_evaluate")
    assert any(r["operator_uri"].endswith("prompt_user") or "prompt" in r["operator_uri"]
               for r in client.requests)


def test_load_shows_the_last_run_at_its_optimal_threshold():
    ds = random_dataset(seed=34, num_samples=40)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    ev = detection_run().load_analysis(ds, "eval")
    client = PanelClient(ds).call("on_load")
    best = ev.sweeps(0.5)[0].optimal()
    assert client.state["eval_key"] == "eval"
    assert chosen(client, "confidence") == pytest.approx(best["confidence"])
    s = ev.summary(0.5, best["confidence"])
    assert ("| %.3f | %.3f | %.3f |" % (s["mAP"], s["AP50"], s["AP75"])) in client.shown["summary_md"]
    z = np.array(client.shown["current"]["z"])
    assert z.sum() == ev.assess(0.5, best["confidence"]).confusion.sum()


def test_slider_iou_and_back_to_optimal_update_every_section(evaluated):
    ds, ev = evaluated
    client = PanelClient(ds).call("on_load")
    client.call("on_confidence", value=0.62)
    # a released slider (the browser shows its every step already) updates what
    # Python holds, and sends nothing: no state patch (the App would save its
    # spaces and reload its page query), no render
    assert client.requests == [] and "confidence" not in client.state
    cm = ev.assess(0.5, 0.62).confusion
    assert np.array(client.shown["current"]["z"]).sum() == cm.sum()
    correct = client.shown["current"]["bars"][0]
    assert sum(correct) == np.trace(cm[:-1, :-1])
    drawn = dict(client.shown["drawn"])
    client.call("on_change")  # the App calls again after the panel's own update: nothing to do
    assert client.requests == [] and client.shown["drawn"] == drawn
    client.call("on_iou", value="0.75")
    assert chosen(client, "iou") == "0.75" and chosen(client, "confidence") == 0.62
    assert np.array(client.shown["current"]["z"]).sum() == ev.assess(0.75, 0.62).confusion.sum()
    moved = client.shown["current"]["moved"]
    client.call("on_back_to_optimal")
    assert chosen(client, "confidence") == pytest.approx(ev.sweeps(0.75)[0].optimal()["confidence"])
    # the browser's slider follows a value Python set itself
    assert client.shown["current"]["moved"] == moved + 1
    assert client.shown["current"]["value"] == chosen(client, "confidence")


def test_every_slider_step_the_browser_draws_is_the_engine_s(evaluated):
    """The browser moves the slider without Python: its numbers for each step
    (class bars, confusion matrix, counts) must be the engine's at that step."""
    ds, ev = evaluated
    client = PanelClient(ds).call("on_load")
    data = copy.deepcopy(op(client))
    classes = ev.classes
    bar_k = [classes.index(c) for c in data["classes"]["x"]]
    cm_k = [classes.index(c) for c in data["confusion"]["trace"]["x"][:-1]] + [ev.num_classes]
    overall, _ = ev.sweeps(0.5)
    for j in (0, 17, 35, 50, 64, 81, 100):
        c = data["thresholds"][j]
        cm = ev.assess(0.5, c).confusion
        k = ev.num_classes
        tp = np.diag(cm)[:k]
        expected = [tp, cm[:k, :k].sum(1) - tp, cm[:k, k], cm[:, :k].sum(0) - tp]
        assert data["classes"]["grid"][j] == [list(map(int, x[bar_k])) for x in expected], c
        assert np.array_equal(np.array(data["confusion"]["grid"][j]), cm[np.ix_(cm_k, cm_k)]), c
        s = ev.summary(0.5, c)
        assert data["points"]["grid"][j][:3] == [s["tp"], s["fp"], s["fn"]]
        assert data["points"]["grid"][j][3] == pytest.approx(s["precision"], abs=1e-4)
    # releasing the slider (an event from the browser): Python redraws the other
    # sections, stores the value, and sends the new current point only; the
    # class order (and the browser's steps) stay
    client.call("on_confidence", value=0.35)
    assert chosen(client, "confidence") == 0.35
    assert "At confidence **0.35**" in client.shown["summary_md"]
    patched = [r for r in client.requests if r["operator_uri"].endswith("patch_panel_data")]
    assert not patched  # the steps are not sent again
    assert op(client)["classes"]["x"] == data["classes"]["x"]
    assert client.shown["current"]["z"] == data["confusion"]["grid"][35]
    # a new IoU (chosen next to the slider: an event) adds that IoU's steps
    # inside the same key (the component stays mounted), classes in the same order
    key = client.shown["op_key"]
    client.call("on_iou", value="0.75")
    assert chosen(client, "iou") == "0.75" and client.shown["op_key"] == key
    sent = [r for r in client.requests if r["operator_uri"].endswith(
        "patch_panel_data")][0]["params"]["data"]
    assert list(sent) == [key + ".ious.i75"]
    assert op(client, 0.75)["classes"]["x"] == data["classes"]["x"]
    cm = ev.assess(0.75, 0.35).confusion
    assert sum(op(client, 0.75)["classes"]["grid"][35][0]) == np.trace(cm[:-1, :-1])
    # once drawn, the browser asks for every other IoU's steps: all ten are then
    # held, and a later IoU choice sends none
    client.call("on_preload", revision=client.data[key]["revision"])
    assert sorted(client.data[key]["ious"]) == sorted(
        "i%02d" % round(100 * t) for t in np.linspace(0.5, 0.95, 10))
    client.call("on_iou", value="0.60")
    assert not [r for r in client.requests if r["operator_uri"].endswith("patch_panel_data")]
    assert "At confidence **0.35** and IoU **0.60**" in client.shown["summary_md"]
    assert op(client, 0.6)["sections"]["summary"][35] == client.shown["summary_md"]
    # a preload asked for a class order since replaced does nothing
    client.call("on_preload", revision="stale")
    assert not client.requests or all(not r["operator_uri"].endswith("patch_panel_data")
                                      for r in client.requests)


def test_every_section_of_a_slider_step_is_what_a_release_there_shows(evaluated):
    """Summary, App's-view section, per-class table, error types and
    recommendations drawn from the browser's steps equal what the panel computes
    for that confidence on release, in a filtered view too (the view section)."""
    ds, ev = evaluated
    client = PanelClient(ds).call("on_load")
    view = ds.select(ds.values("id")[:25])
    client.call("on_change_view", view=view)
    steps = copy.deepcopy(op(client)["sections"])
    assert steps["view"] is not None, "a filtered view has its section at every step"
    recs = steps["recommendations"]
    for j in (3, 40, 77):
        c = op(client)["thresholds"][j]
        client.call("on_confidence", view=view, value=c)
        now = client.shown["current"]["sections"]
        assert steps["summary"][j] == client.shown["summary_md"] == now["summary"]
        assert steps["view"][j] == client.shown["view_md"] == now["view"]
        assert [recs["items"][i] for i in recs["grid"][j]] == client.shown["recommendations"]
        assert steps["table"]["grid"][j] == now["table"] and steps["errors"]["grid"][j] == now["errors"]
        counts = ev.assess(0.5, c).error_counts()
        assert now["errors"] == [counts[n] for n in steps_error_names()]
        rows = {r["class"]: r for r in figures_module().class_metrics(ev, 0.5, c)}
        moving = steps["table"]["moving"]
        assert now["table"] == [[rows[r["class"]][k] for k in moving] for r in steps["table"]["rows"]]
    # a recommendation's Show button sends the recommendation's objects to show
    rec = next(r for r in client.shown["recommendations"] if "error" in r["show"])
    client.call("on_recommendation", view=view, show=rec["show"])
    a = ev.assess(0.5, chosen(client, "confidence"))
    side = a.gt_error if rec["show"]["error"] == "missed" else a.pred_error
    code = ev_errors().ERROR_TYPES.index(rec["show"]["error"])
    assert client.view().count() == np.count_nonzero(side == code)


def figures_module():
    return next(m for n, m in sys.modules.items()
                if n.startswith("fiftyone.plugins.") and n.endswith("panels.figures"))


def steps_error_names():
    return next(m for n, m in sys.modules.items()
                if n.startswith("fiftyone.plugins.") and n.endswith("panels.sections")).ERROR_NAMES


def ev_errors():
    return next(m for n, m in sys.modules.items()
                if n.startswith("fiftyone.plugins.") and n.endswith("plugin.errors"))


def test_confusion_cell_shows_exactly_its_objects(evaluated):
    ds, ev = evaluated
    selection = next(m for n, m in sys.modules.items()
                     if n.startswith("fiftyone.plugins.") and n.endswith("panels.selection"))
    config = ds.get_evaluation_info("eval").config
    client = PanelClient(ds).call("on_load").call("on_confidence", value=0.3)
    a = ev.assess(float(chosen(client, "iou")), 0.3)
    K = ev.num_classes
    for row, col, x, y in ((0, K, "Not detected", ev.classes[0]),
                           (K, 1, ev.classes[1], "Not an object"),
                           (2, 2, ev.classes[2], ev.classes[2])):
        client.call("on_cell_click", x=x, y=y)
        view = client.view()
        assert view.count() == a.confusion[row, col]
        # the labels FiftyOne's select_labels shows (the panel's own view is built
        # for thousands of ids; select_labels is the reference)
        preds, gts = selection.cell_ids(ev, a, row, col)
        field = "predictions" if len(preds) else "ground_truth"
        reference = selection.objects_view(ds, config, preds, gts, selection.OBJECTS, paired=True)
        assert sorted(view.values(field + ".id")) == sorted(reference.values(field + ".id"))
    # samples mode: the same samples, with only the cell's labels visible
    client.call("on_mode", value=selection.SAMPLES)
    client.state["mode"] = selection.SAMPLES
    client.call("on_cell_click", x=ev.classes[1], y="Not an object")
    preds, gts = selection.cell_ids(ev, a, K, 1)
    reference = selection.objects_view(ds, config, preds, gts, selection.SAMPLES, paired=True)
    for f in ("predictions", "ground_truth"):
        got = client.view().values(f + ".detections.id", unwind=True)
        assert sorted(got) == sorted(reference.values(f + ".detections.id", unwind=True))


def test_error_type_and_class_clicks(evaluated):
    ds, ev = evaluated
    client = PanelClient(ds).call("on_load")
    a = assessment(ev, client)
    client.call("on_error_click", x="background")
    assert client.view().count() == np.count_nonzero(a.pred_error == errors.BACKGROUND)
    client.call("on_error_click", x="missed")
    assert client.view().count() == np.count_nonzero(a.gt_error == errors.MISSED)
    client.call("on_mode", value="samples", path="mode")
    client.call("on_class_click", x=ev.classes[0])
    assert client.view().count("%s.detections" % "predictions") + client.view().count(
        "ground_truth.detections") == sum(
        len(ids) for ids in _class_errors(ev, a, 0))


def assessment(ev, client):
    """The engine's answer at the panel's current operating point (the panel
    restores the last choices on this dataset, so read them from its state)."""
    return ev.assess(float(chosen(client, "iou")), chosen(client, "confidence"))


def _class_errors(ev, a, k):
    wrong = (a.pred_error > errors.CORRECT) & (ev.pred_label == k)
    missed = (ev.gt_label == k) & ~ev.gt_crowd & (a.gt_error != errors.CORRECT)
    return ev.pred_ids[wrong], ev.gt_ids[missed]


def test_tag_examples_tags_exactly_the_class_errors(evaluated):
    ds, ev = evaluated
    client = PanelClient(ds).call("on_load")
    client.call("on_example_choice", value=ev.classes[1], path="example_class")
    client.call("on_example_choice", value="fp", path="example_kind")
    client.call("on_tag_examples")
    a = assessment(ev, client)
    preds, _ = _class_errors(ev, a, 1)
    assert ds.count_label_tags().get("needs_review", 0) == len(preds)
    ds.untag_labels("needs_review")


def test_save_per_class_thresholds_on_the_run(evaluated):
    ds, ev = evaluated
    client = PanelClient(ds).call("on_load").call("on_save_thresholds")
    saved = ds.load_run_results("error_atlas_eval", cache=False).class_thresholds
    assert saved == ev.optimal_thresholds(float(chosen(client, "iou")))["per_class"]


def test_state_survives_a_new_panel_and_stale_results_are_flagged():
    ds = random_dataset(seed=33, num_samples=20)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    PanelClient(ds, "first").call("on_load").call("on_iou", value="0.65")
    reopened = PanelClient(ds, "second").call("on_load")
    assert chosen(reopened, "iou") == "0.65" and reopened.state["stale"] is None
    sample = ds.first()
    sample.ground_truth.detections[0].label = "dog" if sample.ground_truth.detections[0].label != "dog" else "cat"
    sample.save()
    assert "1 evaluated samples changed" in PanelClient(ds, "third").call("on_load").state["stale"]


def test_recommendation_show_button(evaluated):
    ds, ev = evaluated
    client = PanelClient(ds).call("on_load")
    recs = client.shown["recommendations"]
    assert recs, "random data has plenty of errors"
    i = next(i for i, r in enumerate(recs) if r["show"].get("error"))
    client.call("on_recommendation", index=i)
    a = assessment(ev, client)
    code = errors.ERROR_TYPES.index(recs[i]["show"]["error"])
    side = a.gt_error if recs[i]["show"]["error"] == "missed" else a.pred_error
    assert client.view().count() == np.count_nonzero(side == code)



def test_numbers_follow_the_apps_view(evaluated):
    """A selection made elsewhere (e.g. the vector explorer) restricts the view section."""
    ds, ev = evaluated
    client = PanelClient(ds).call("on_load")
    assert client.shown["view_md"] is None  # the whole dataset: no view section
    ids = ds.values("id")[:20]
    client.call("on_change_view", view=ds.select(ids))
    iou, conf = float(chosen(client, "iou")), chosen(client, "confidence")
    sub = ev.assess(iou, conf).restrict(*ev.members(ids))
    K = ev.num_classes
    tp = int(np.trace(sub.confusion[:K, :K]))
    fp = int(sub.confusion[:, :K].sum()) - tp
    md = client.shown["view_md"]
    pred_in, gt_in = ev.members(ids)
    images = np.unique(np.r_[ev.pred_image[pred_in], ev.gt_image[gt_in]]).size
    assert 0 < images <= 20 and "in %d images" % images in md
    assert "| TP | %d |" % tp in md and "| FP | %d |" % fp in md
    n_preds = int(np.isin(ev.pred_image, np.flatnonzero(np.isin(ev.image_ids, ids))).sum())
    assert "shows %d predictions" % n_preds in md
    # the App re-sends an unchanged view after reloading its page query: no update, no render
    client.call("on_change_view", view=ds.select(ids))
    assert client.requests == []

    # a slider move keeps the view section, at the new operating point
    client.call("on_confidence", value=0.7, view=ds.select(ids))
    sub = ev.assess(iou, 0.7).restrict(*ev.members(ids))
    tp = int(np.trace(sub.confusion[:K, :K]))
    assert "| TP | %d |" % tp in client.shown["view_md"]

    # objects: the patches of one confusion cell
    client.call("on_change_view", view=ds.select_labels(ids=ev.pred_ids[:5].tolist(),
                                                         fields="predictions").to_patches("predictions"))
    assert "shows 5 predictions and 0 ground-truth objects" in client.shown["view_md"]
    client.call("on_change_view", view=ds.view())
    assert client.shown["view_md"] is None


def test_fiftyone_runs_are_listed_and_analysed_without_touching_them():
    ds = random_dataset(seed=35, num_samples=30)
    ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo", iou=0.6,
                           compute_mAP=True)
    before = ds.values("predictions.detections.fo"), ds.values("ground_truth.detections.fo_iou")
    client = PanelClient(ds).call("on_load")
    assert client.state["eval_key"] == "fo" and chosen(client, "iou") == "0.50"
    assert "FiftyOne `coco` run" in client.shown["summary_md"]
    assert (ds.values("predictions.detections.fo"), ds.values("ground_truth.detections.fo_iou")) == before
    assert ds.get_evaluation_info("fo").config.custom_metrics is None  # the user's run, as it was

    # the analysis equals evaluate_model's on the same fields and IoU
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea", iou=0.6)
    ours, theirs = (detection_run().load_analysis(ds, k) for k in ("ea", "fo"))
    assert theirs.summary(0.6, 0.4) == ours.summary(0.6, 0.4)
    assert PanelClient(ds, "p2").call("on_load").state["runs"] == ["fo", "ea"]

    # re-running FiftyOne's evaluation refreshes the analysis; deleting it drops it
    stamp = ds.get_run_info("error_atlas_fo").timestamp
    ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo", iou=0.6)
    PanelClient(ds, "p3").call("on_load").call("on_choose_run", value="fo")
    assert ds.get_run_info("error_atlas_fo").timestamp > stamp
    ds.delete_evaluation("fo")
    PanelClient(ds, "p4").call("on_load")
    assert "error_atlas_fo" not in ds.list_runs() and "error_atlas_ea" in ds.list_runs()


def test_reevaluate_prefills_the_apps_view(evaluated):
    ds, _ = evaluated
    client = PanelClient(ds).call("on_load")

    def prompted(view):
        client.call("on_evaluate", view=view)
        (req,) = [r for r in client.requests if "prompt" in r["operator_uri"]]
        return req["params"]["params"]

    assert prompted(ds.view()) == {"pred_field": "predictions", "gt_field": "ground_truth",
                                   "eval_key": "eval"}
    params = prompted(ds.match_tags("validation").limit(10))
    assert params["view_target"] == "CURRENT_VIEW" and params["eval_key"] == "eval_view"


def test_class_filter_limits_bars_table_matrix_and_curves(evaluated):
    ds, ev = evaluated
    client = PanelClient(ds).call("on_load")
    summary = client.shown["summary_md"]
    keep = ev.classes[:2]
    client.call("on_class_filter", value=" %s , %s" % (keep[0].upper(), keep[1]), path="class_filter")
    table = op(client)["sections"]["table"]["rows"]
    assert sorted(r["class"] for r in table) == sorted(keep)
    assert sorted(op(client)["classes"]["x"]) == sorted(keep)
    assert op(client)["confusion"]["trace"]["x"][:-1] == keep  # class order, then Not detected
    assert {t["name"] for t in op(client)["pr"]["traces"]} <= {"all classes", *keep}
    # the summary still speaks of the whole run
    assert client.shown["summary_md"] == summary
    client.call("on_class_filter", value="", path="class_filter")
    assert len(op(client)["sections"]["table"]["rows"]) == min(len(ev.classes), 20)


def test_view_texts_of_every_held_iou_follow_the_apps_view(evaluated):
    """After a view change, the panel's IoU gets the view's texts at every step
    and the other held IoUs lose theirs (stale), until one is chosen."""
    ds, ev = evaluated
    client = PanelClient(ds).call("on_load")
    key = client.shown["op_key"]
    client.call("on_preload", revision=client.data[key]["revision"])
    view = ds.select(ds.values("id")[:15])
    client.call("on_change_view", view=view)
    sent = [r for r in client.requests if r["operator_uri"].endswith("patch_panel_data")][0]
    assert set(sent["params"]["data"]) == {"%s.ious.i%02d.sections.view" % (key, round(100 * t))
                                          for t in np.linspace(0.5, 0.95, 10)}
    assert op(client)["sections"]["view"][50] is not None
    assert op(client, 0.75)["sections"]["view"] is None  # stale: dropped
    client.call("on_iou", view=view, value="0.75")
    texts = op(client, 0.75)["sections"]["view"]
    client.call("on_confidence", view=view, value=0.5)
    assert texts[50] == client.shown["view_md"] and "In the App's view" in texts[50]


def test_a_matrix_too_large_for_the_steps_follows_a_release(evaluated, monkeypatch):
    """Matrices of more than LIVE_CONFUSION_MAX classes get no steps (their size
    grows with the square of the classes): a release then renders the current
    point, and only then."""
    ds, ev = evaluated
    monkeypatch.setattr(figures_module(), "LIVE_CONFUSION_MAX", 2)
    client = PanelClient(ds).call("on_load")
    client.call("on_show_all", value=True)
    assert op(client)["confusion"]["grid"] is None  # 3 classes > 2
    client.call("on_confidence", value=0.55)
    assert [r["operator_uri"].split("/")[-1] for r in client.requests] == ["show_panel_output"]
    assert np.array_equal(np.array(client.shown["current"]["z"]), ev.assess(0.5, 0.55).confusion)
    monkeypatch.setattr(figures_module(), "LIVE_CONFUSION_MAX", 40)
    client.call("on_confidence", value=0.6)
    assert client.requests == []
