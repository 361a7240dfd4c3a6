"""export_report: one self-contained HTML file per run, for every task, opened in
headless Chromium with no console errors and no network; its sections present
and its numbers the run's; the PDF printed when Chromium is present."""

import json
import os
import re

import fiftyone as fo
import fiftyone.operators as foo
import pytest

from tests import browser
from tests.fodata import evaluate_model, random_dataset, snapshot
from tests.taskdata import classification_dataset, evaluate_segmentation, segmentation_dataset

URI = "@error-atlas/error-atlas/export_report"
SHOTS = os.environ.get("EA_SCREENSHOTS", "/tmp/ea-report")


def export(collection, **params):
    return foo.get_operator(URI)(collection, **params)


def report_data(path):
    text = open(path, encoding="utf-8").read()
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    return text, json.loads(m.group(1).replace("<\\/", "</"))


def open_in_chromium(path, name):
    """Loads the file with the network blocked: page errors, console errors, failed
    requests, the figures drawn and the sections' titles."""
    with browser.Browser(1280, 900) as chromium:
        page = chromium.page
        console, requests = [], []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.route(re.compile(r"^https?://"), lambda route: (requests.append(route.request.url),
                                                              route.abort()))
        page.goto("file://" + str(path))
        page.wait_for_function("document.body.getAttribute('data-figures-drawn') !== null",
                               timeout=60000)
        drawn = page.evaluate("""() => ({
          figures: Number(document.body.getAttribute('data-figures-drawn')),
          plots: [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.querySelector('.main-svg')).length,
          sections: [...document.querySelectorAll('section > h2')].map(h => h.textContent),
          images: [...document.querySelectorAll('.thumb img')].filter(
              i => i.complete && i.naturalWidth > 0).length,
          text: document.body.innerText})""")
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, name + ".png"))
        page.screenshot(path=os.path.join(SHOTS, name + "_full.png"), full_page=True)
        return drawn, console + chromium.console_errors, requests


needs_chromium = pytest.mark.skipif(browser.unavailable() is not None,
                                    reason=browser.unavailable() or "")


@needs_chromium
def test_detection_report_with_comparison_history_and_pdf(tmp_path):
    ds = random_dataset(seed=11, num_samples=60)
    try:
        browser.write_images(ds, tmp_path / "images")
        first = evaluate_model(ds, pred_field="predictions", eval_key="v1", model_name="shapes",
                               model_version="1")
        for s in ds.iter_samples(autosave=True):
            s["worse"] = fo.Detections(detections=s.predictions.detections[::2])
        evaluate_model(ds, pred_field="worse", eval_key="v2", model_name="shapes",
                       model_version="2")
        before = snapshot(ds)
        out = export(ds, eval_key="v1", path=str(tmp_path / "r" / "v1.html"), compare_key="v2",
                     pdf=True)
        assert snapshot(ds) == before  # the report writes nothing to the dataset
        assert out["sections"] == ["summary", "curves", "classes", "confusion", "errors",
                                   "recommendations", "examples", "comparison", "history"]
        text, data = report_data(out["path"])
        assert text.count("* plotly.js v") == 1  # embedded once
        head = data["runs"]["v1"]["headline"]
        results = ds.load_evaluation_results("v1")
        assert head["mAP"] == pytest.approx(results.mAP(), abs=1e-12) == first["mAP"]
        optimal = first["optimal"]  # the report's default operating point: max F1
        assert head["confidence"] == optimal["confidence"]
        for k in ("precision", "recall", "f1"):
            assert head[k] == pytest.approx(optimal[k], abs=1e-12), k
        rows = {r["class"]: r for r in data["runs"]["v1"]["per_class"]}
        for c, ap in first["per_class_AP"].items():
            assert rows[c]["ap"] == ap
        recall = next(r for r in data["comparison"] if r["metric"] == "recall")
        assert recall["verdict"] == "worse"
        # the comparison is compare_runs' (paired bootstrap on the same images), number for number
        paired = foo.get_operator("@error-atlas/error-atlas/compare_runs")(
            ds, eval_key="v1", compare_key="v2")
        assert [r["metric"] for r in data["comparison"]] == list(paired["metrics"])
        for row in data["comparison"]:
            want = paired["metrics"][row["metric"]]
            assert row["a"] == want["a"] and row["b"] == want["b"]
            assert row["delta"] == "%+.3f" % want["diff"]
            assert row["ci"] == "[%+.3f, %+.3f]" % tuple(want["ci"])
            assert want["ci"][0] <= want["diff"] <= want["ci"][1]
        drawn, errors_seen, requests = open_in_chromium(out["path"], "detection")
        assert errors_seen == [] and requests == []
        assert drawn["figures"] == drawn["plots"] >= 8
        assert drawn["images"] >= 8  # thumbnails of false detections and missed objects
        assert "%.3f" % first["mAP"] in drawn["text"]
        assert drawn["sections"][0] == "Summary and verdict"
        assert out["pdf_path"].endswith("v1.pdf") and out["pdf_size_bytes"] > 20000
        pdf = open(out["pdf_path"], "rb").read()
        assert pdf[:5] == b"%PDF-" and len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 4
    finally:
        ds.delete()


@needs_chromium
def test_classification_report(tmp_path):
    ds = classification_dataset(seed=4, n=150)
    try:
        browser.write_images(ds, tmp_path / "images")
        summary = evaluate_model(ds, pred_field="predictions", eval_key="c1")
        out = export(ds, eval_key="c1", path=str(tmp_path / "c1.html"), confidence=0.0)
        _, data = report_data(out["path"])
        head = data["runs"]["c1"]["headline"]
        assert head["accuracy"] == summary["accuracy"] and head["macro_f1"] == summary["macro_f1"]
        assert "examples" in out["sections"] and "history" not in out["sections"]
        drawn, errors_seen, requests = open_in_chromium(out["path"], "classification")
        assert errors_seen == [] and requests == []
        assert drawn["figures"] == drawn["plots"] >= 5 and drawn["images"] > 0
    finally:
        ds.delete()


@needs_chromium
def test_segmentation_report(tmp_path):
    ds = segmentation_dataset(seed=5, n=12)
    try:
        browser.write_images(ds, tmp_path / "images")
        summary = evaluate_segmentation(ds, eval_key="s1")
        out = export(ds, eval_key="s1", path=str(tmp_path / "s1.html"), thumbnails=4)
        _, data = report_data(out["path"])
        assert data["runs"]["s1"]["headline"]["mIoU"] == summary["mIoU"]
        drawn, errors_seen, requests = open_in_chromium(out["path"], "segmentation")
        assert errors_seen == [] and requests == []
        assert drawn["images"] == 4 and drawn["figures"] == drawn["plots"]
    finally:
        ds.delete()


def test_bad_input_is_refused_before_any_write(tmp_path):
    ds = random_dataset(seed=12, num_samples=10)
    try:
        evaluate_model(ds, pred_field="predictions", eval_key="v1")
        target = tmp_path / "never.html"
        with pytest.raises(Exception, match="eval_key 'nope' is not a finished"):
            export(ds, eval_key="nope", path=str(target))
        with pytest.raises(Exception, match="compare_key is the report's own run"):
            export(ds, eval_key="v1", compare_key="v1", path=str(target))
        assert not target.exists()
    finally:
        ds.delete()


@needs_chromium
def test_failure_clusters_of_the_error_map(tmp_path):
    ds = random_dataset(seed=13, num_samples=80)
    try:
        browser.write_images(ds, tmp_path / "images")
        evaluate_model(ds, pred_field="predictions", eval_key="e1")
        mapped = foo.get_operator("@error-atlas/error-atlas/compute_error_map")(
            ds, eval_key="e1", level="samples", map_key="m1", num_clusters=4)
        out = export(ds, eval_key="e1", path=str(tmp_path / "e1.html"), thumbnails=3)
        assert "clusters" in out["sections"]
        text, data = report_data(out["path"])
        sizes = sorted(c["size"] for c in data["clusters"])
        assert sizes == sorted(c["size"] for c in mapped["clusters"]) and sum(sizes) == 80
        assert "Failure clusters (error map &#x27;m1&#x27;)" in text or \
            "Failure clusters (error map 'm1')" in text
        drawn, errors_seen, requests = open_in_chromium(out["path"], "clusters")
        assert errors_seen == [] and requests == []
        # 3 false detections + 3 missed objects + 3 members of each of the 4 clusters
        assert drawn["images"] == 6 + 12
    finally:
        ds.delete()


def test_through_fiftyones_executor_as_the_app_runs_it(tmp_path):
    ds = random_dataset(seed=14, num_samples=20)
    try:
        evaluate_model(ds, pred_field="predictions", eval_key="v1")
        result = foo.execute_operator(URI, ctx=dict(view=ds.view(), params=dict(
            eval_key="v1", path=str(tmp_path / "app.html"), thumbnails=0)))
        assert result.error is None, result.error
        out = result.result
        assert out["path"] == str(tmp_path / "app.html") and out["pdf_path"] is None
        assert "examples" not in out["sections"] and os.path.getsize(out["path"]) > 4e6
        _, data = report_data(out["path"])
        assert data["runs"]["v1"]["headline"]["num_images"] == 20
    finally:
        ds.delete()


@needs_chromium
def test_multilabel_report(tmp_path):
    from tests.test_multilabel_model import multilabel_dataset

    ds = multilabel_dataset(seed=6, n=200)
    try:
        summary = evaluate_model(ds, pred_field="predictions", eval_key="m1")
        out = export(ds, eval_key="m1", path=str(tmp_path / "m1.html"), confidence=0.0)
        _, data = report_data(out["path"])
        head = data["runs"]["m1"]["headline"]
        assert head["micro_f1"] == summary["micro_f1"] and head["macro_f1"] == summary["macro_f1"]
        drawn, errors_seen, requests = open_in_chromium(out["path"], "multilabel")
        assert errors_seen == [] and requests == []
        assert drawn["figures"] == drawn["plots"] >= 4 and drawn["sections"][0] == \
            "Summary and verdict"
    finally:
        ds.delete()


@needs_chromium
def test_slices_of_the_automatic_search(tmp_path):
    ds = random_dataset(seed=15, num_samples=120)
    try:
        # a planted condition: the "night" images lose most of their predictions
        night = [i % 3 == 0 for i in range(len(ds))]
        ds.set_values("time_of_day", ["night" if n else "day" for n in night])
        for s, n in zip(ds.iter_samples(autosave=True), night):
            if n:
                s["predictions"] = fo.Detections(detections=s.predictions.detections[::4])
        evaluate_model(ds, pred_field="predictions", eval_key="e1")
        out = export(ds, eval_key="e1", path=str(tmp_path / "e1.html"), thumbnails=0)
        assert "slices" in out["sections"]
        text, data = report_data(out["path"])
        first = data["slices"][0]
        assert "night" in first["description"] and first["size"] == 40
        assert "Slices: where the run fails most" in text
        drawn, errors_seen, requests = open_in_chromium(out["path"], "slices")
        assert errors_seen == [] and requests == []
        assert "Slices: where the run fails most (automatic search)" in drawn["sections"]
    finally:
        ds.delete()
