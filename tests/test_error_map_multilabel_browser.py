"""The vector explorer on a multi-label map in the real App, in headless Chromium.

Strips of real digit scans read by a real classifier (:mod:`tests.multilabel_digits`),
evaluated and mapped; the panel opens on the map coloured by the multi-label
error types, and a failure cluster and a cell of its class confusion reach the
grid with their counts. Screenshots: ``browser.screenshot``'s folder.
"""

import uuid

import numpy as np
import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from fiftyone import ViewField as F  # noqa: E402

from tests import multilabel_digits  # noqa: E402
from tests.fodata import evaluate_model  # noqa: E402
from tests.test_error_map import compute_error_map  # noqa: E402
from tests.test_error_map_tasks_browser import legend_and_top_cluster  # noqa: E402

VX = browser.VECTOR_SEL
NUM_IMAGES = 200


def test_multilabel_map_legend_cluster_and_cell_in_the_app(tmp_path):
    name = "ea-vx-strips-" + uuid.uuid4().hex[:8]
    dataset = multilabel_digits.build(NUM_IMAGES, 51, str(tmp_path / "strips"))
    try:
        dataset.name = name
        dataset.persistent = True  # the App process must see it
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="ml",
                       confidence=0.5)
        summary = compute_error_map(dataset, eval_key="ml", level="samples", map_key="mlmap")
        with browser.App(name, tmp_path / "app.log", panel="vector_explorer") as app, \
                browser.Browser(width=1800, height=1100) as chromium:
            page = chromium.page
            page.goto(app.url)
            top = summary["clusters"][0]
            heat = legend_and_top_cluster(page, dataset, "ml_error", NUM_IMAGES, top,
                                          "test_vx_multilabel_map")
            text = page.locator(VX).inner_text()
            assert "Cluster #1" in text and "Precision (all)" in text and "micro F1" in text
            assert "Missed" in heat["x"]
            # each true class's row: found + Missed = the cluster's images holding the class
            members = dataset.match(F("mlmap_cluster") == top["id"])
            truth = [set(t or ()) for t in members.values("ground_truth.classifications.label")]
            z = np.array(heat["z"])
            for i, true_name in enumerate(heat["y"]):
                found = z[i, heat["x"].index(true_name)] if true_name in heat["x"] else 0
                assert found + z[i, heat["x"].index("Missed")] == sum(true_name in t for t in truth)
            page.locator(VX).get_by_text("Cluster #1").first.scroll_into_view_if_needed()
            browser.screenshot(page, "test_vx_multilabel_cluster")

            # its largest cell: exactly those samples in the grid
            i, j = np.unravel_index(np.argmax(z), z.shape)
            browser.click_heatmap_cell(page, int(j), int(i))
            browser.poll(lambda: browser.grid_count(page) == (int(z[i, j]), "samples"),
                         message="%d samples for the cluster's cell" % z[i, j])
            page.locator(VX).get_by_text("Confusion within the cluster").first \
                .scroll_into_view_if_needed()
            browser.screenshot(page, "test_vx_multilabel_cell")
            assert not chromium.console_errors, chromium.console_errors
    finally:
        dataset.delete()
