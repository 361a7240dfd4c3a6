"""The vector explorer's automatic slices in the real App, in headless Chromium at a
laptop's 1440x900 with three columns (the grid, the vector explorer, the evaluation
explorer): nothing before "Find slices", then the rows of compute_slices' search under
the failure clusters, and a row click puts exactly that slice in the grid.

Screenshots go to ``$TMPDIR/ea-map-slices-browser/``.
"""

import os
import tempfile
import types
import uuid

import numpy as np
import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

import fiftyone as fo  # noqa: E402
import fiftyone.operators as foo  # noqa: E402

from tests.fodata import evaluate_model, random_dataset  # noqa: E402
from tests.test_error_map import compute_error_map  # noqa: E402

VX = browser.VECTOR_SEL
TITLE = "Automatic slices (worst combinations of metadata)"
SHOTS = os.path.join(tempfile.gettempdir(), "ea-map-slices-browser")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("map-slices")
    name = "ea-map-slices-" + uuid.uuid4().hex[:8]
    dataset = random_dataset(seed=21, num_samples=90, name=name)
    try:
        dataset.persistent = True  # the App process must see it
        browser.write_images(dataset, tmp / "images")
        rng = np.random.default_rng(5)
        dataset.set_values("weather", rng.choice(["sun", "rain", "fog"], len(dataset)).tolist())
        for s in dataset.iter_samples(autosave=True):  # the model misses most objects in fog
            keep = 0.2 if s.weather == "fog" else 0.9
            s["predictions"] = fo.Detections(
                detections=[d.copy() for d in s.predictions.detections if rng.random() < keep])
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
        compute_error_map(dataset, eval_key="eval", level="samples", map_key="smap", num_clusters=4)
        with browser.App(name, tmp / "app.log", panel=["vector_explorer", browser.PANEL]) as app, \
                browser.Browser(1440, 900) as chromium:
            page = chromium.page
            page.goto(app.url)
            browser.poll(lambda: browser.scatter_traces(page), timeout=90, message="the scatter")
            yield types.SimpleNamespace(dataset=dataset, page=page)
    finally:
        dataset.delete()


def table_rows(page, title):
    """The cells' texts of the vector explorer's ClusterTable section titled ``title``."""
    return page.evaluate("""([sel, title]) => {
      const s = [...document.querySelectorAll(sel + ' details')].find(
          d => d.querySelector('summary') && d.querySelector('summary').textContent === title);
      if (!s) return null;
      return [...s.querySelectorAll('tbody tr')].map(
          tr => [...tr.querySelectorAll('td')].map(td => td.textContent));
    }""", [VX, title])


def test_find_slices_under_the_clusters_and_a_slice_to_the_grid(ui):
    page, ds = ui.page, ui.dataset
    assert table_rows(page, TITLE) is None  # opening the panel computes no slice
    button = page.locator(VX + " button").filter(has_text="Find slices")
    button.scroll_into_view_if_needed()
    button.click()
    direct = foo.get_operator("@error-atlas/error-atlas/compute_slices")(
        ds, eval_key="eval", source="search")
    rows = browser.poll(lambda: (lambda r: (r is not None and len(r) == len(direct["rows"]) > 0, r))(
        table_rows(page, TITLE)), timeout=60, message="the automatic slices' table")
    assert [r[1] for r in rows] == [r["description"] for r in direct["rows"]]
    assert [int(r[2]) for r in rows] == [r["size"] for r in direct["rows"]]
    assert [r[4] for r in rows] == ["%.3f [%.3f, %.3f]" % (r["values"]["mAP"], *r["ci"]["mAP"])
                                    for r in direct["rows"]]
    os.makedirs(SHOTS, exist_ok=True)
    page.locator(VX).get_by_text("Conditions").first.scroll_into_view_if_needed()
    page.screenshot(path=os.path.join(SHOTS, "map_slices_table.png"))
    first = 0
    page.evaluate("""([sel, title, i]) => {
      const s = [...document.querySelectorAll(sel + ' details')].find(
          d => d.querySelector('summary').textContent === title);
      const tr = s.querySelectorAll('tbody tr')[i];
      tr.scrollIntoView({block: 'center'});
      tr.click();
    }""", [VX, TITLE, first])
    size = direct["rows"][first]["size"]
    assert size != browser.grid_count(page)[0]  # the grid changes
    browser.poll(lambda: browser.grid_count(page) == (size, "samples"), timeout=20,
                 message="the grid at the first slice")
    page.screenshot(path=os.path.join(SHOTS, "map_slices_clicked.png"))
