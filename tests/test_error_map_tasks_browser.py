"""The vector explorer on a classification map in the real App, in headless Chromium.

The demo's digits (a real classifier, hidden conditions), evaluated and mapped; the
panel opens on the map coloured by the classification error types, and a failure
cluster and a cell of its confusion sub-matrix reach the grid with their counts.
"""

import sys
import uuid

import numpy as np
import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from fiftyone import ViewField as F  # noqa: E402

from tests.conftest import ROOT  # noqa: E402
from tests.fodata import evaluate_model  # noqa: E402
from tests.test_error_map import compute_error_map  # noqa: E402

sys.path.insert(0, str(ROOT / "demo"))
import digits  # noqa: E402

VX = browser.VECTOR_SEL
NUM_IMAGES = 200


def legend_and_top_cluster(page, dataset, error_field, num_images, top, shot):
    """Checks the open map's legend against the run's ``error_field`` (its task's
    error types, counted as the field counts them), screenshots it, chooses the
    top cluster and waits for its images in the grid; returns its confusion."""
    browser.poll(lambda: browser.scatter_traces(page), timeout=60, message="the scatter")
    counts = dataset.count_values(error_field)
    traces = [t for t in browser.scatter_traces(page) if not t["name"].startswith("in view")]
    assert {t["name"]: t["n"] for t in traces} == {
        "%s (%d)" % (k, v): v for k, v in counts.items() if v}
    assert sum(t["n"] for t in traces) == num_images
    browser.screenshot(page, shot)
    page.locator(VX + " tbody tr").first.click()
    browser.poll(lambda: browser.grid_count(page) == (top["size"], "samples"),
                 message="the %d images of the top cluster" % top["size"])
    return browser.poll(lambda: browser.panel_heatmap(page), message="the cluster's confusion")


def test_classification_map_legend_cluster_and_cell_in_the_app(tmp_path):
    name = "ea-vx-digits-" + uuid.uuid4().hex[:8]
    dataset = digits.build_dataset(name=name, num_images=NUM_IMAGES, seed=51,
                                   out_dir=str(tmp_path / "digits"))
    try:
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
        summary = compute_error_map(dataset, eval_key="eval", level="samples", map_key="dmap")
        with browser.App(name, tmp_path / "app.log", panel="vector_explorer") as app, \
                browser.Browser(width=1800, height=1100) as chromium:
            page = chromium.page
            page.goto(app.url)
            top = summary["clusters"][0]
            heat = legend_and_top_cluster(page, dataset, "eval_error", NUM_IMAGES, top,
                                          "test_vx_classification_map")
            text = page.locator(VX).inner_text()
            assert "Cluster #1" in text and "Precision (all)" in text
            members = dataset.match(F("dmap_cluster") == top["id"])
            z = np.array(heat["z"])
            assert z.sum() == len(members)
            browser.screenshot(page, "test_vx_classification_cluster")

            # its largest cell: exactly those samples in the grid
            i, j = np.unravel_index(np.argmax(z), z.shape)
            browser.click_heatmap_cell(page, int(j), int(i))
            browser.poll(lambda: browser.grid_count(page) == (int(z[i, j]), "samples"),
                         message="%d samples for the cluster's cell" % z[i, j])
            assert not chromium.console_errors, chromium.console_errors
    finally:
        dataset.delete()
