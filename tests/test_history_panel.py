"""The evaluation explorer's History section through the panel's callbacks (what
the App calls): its table and plot hold the runs' recorded numbers."""

import fiftyone as fo
import pytest

from plugin import history
from tests.fodata import evaluate_model, random_dataset
from tests.taskdata import classification_dataset
from tests.test_panel_callbacks import PanelClient


def rendered(client):
    """The last panel output the App was sent, as a dict of views by name."""
    out = [r for r in client.requests if r["operator_uri"].endswith("show_panel_output")][-1]
    props = out["params"]["output"]["type"]["properties"]
    return props


def table(props):
    """The History table's rows (cell texts by column key)."""
    return props["history_table"]["view"]["rows"]


@pytest.fixture(scope="module")
def two_runs():
    ds = random_dataset(seed=3, num_samples=60)
    first = evaluate_model(ds, pred_field="predictions", eval_key="v1", model_name="shapes",
                           model_version="1.0")
    for s in ds.iter_samples(autosave=True):
        s["worse"] = fo.Detections(detections=s.predictions.detections[::3])
    second = evaluate_model(ds, pred_field="worse", eval_key="v2", confidence=0.3)
    yield ds, first, second
    ds.delete()


def test_history_shows_every_run_and_flags_the_regression(two_runs):
    ds, first, second = two_runs
    client = PanelClient(ds).call("on_load")
    props = rendered(client)
    assert "history_plot" in props and "history_table" in props
    client.call("on_history_metric", value="recall")
    props = rendered(client)
    rows = table(props)
    assert [r["run"] for r in rows] == ["v1", "v2"]
    assert rows[0]["value"].startswith("%.3f [" % first["recall"])
    assert rows[1]["value"].startswith("%.3f [" % second["recall"])
    assert (rows[0]["flag"], rows[1]["flag"]) == ("baseline", "▼ regression")
    assert "recall" in rows[1]["regresses"] and rows[0]["regresses"] == "–"
    plot = props["history_plot"]["view"]
    values = plot["data"][0]["y"]
    assert values == [first["recall"], second["recall"]]
    assert plot["data"][1]["name"] == "regression" and plot["data"][1]["y"] == [second["recall"]]
    # the worse run as the baseline: the better one does not regress
    client.state["history_metric"] = "recall"
    client.call("on_history_baseline", value="v2")
    props = rendered(client)
    assert len(props["history_plot"]["view"]["data"]) == 1
    assert [r["flag"] for r in table(props)] == ["–", "baseline"]


def test_per_class_metric_and_sorting(two_runs):
    ds, first, second = two_runs
    client = PanelClient(ds).call("on_load")
    metric = "AP" + history.SEP + "car"
    client.call("on_history_metric", value=metric)
    client.call("on_history_sort", value="value")
    props = rendered(client)
    values = props["history_plot"]["view"]["data"][0]["y"]
    assert values == pytest.approx([first["per_class_AP"]["car"], second["per_class_AP"]["car"]])
    order = [r["run"] for r in table(props)]
    worst_first = sorted(["v1", "v2"], key=lambda k: {"v1": first, "v2": second}[k]
                         ["per_class_AP"]["car"])
    assert order == worst_first


def test_history_of_a_classification_run():
    ds = classification_dataset(seed=2, n=120)
    try:
        summary = evaluate_model(ds, pred_field="predictions", eval_key="c1", model_name="digits")
        props = rendered(PanelClient(ds).call("on_load"))
        assert props["history_plot"]["view"]["data"][0]["y"] == [summary["accuracy"]]
        assert table(props)[0]["model"] == "digits"
    finally:
        ds.delete()


def test_a_click_on_a_run_shows_it(two_runs):
    ds, first, second = two_runs
    client = PanelClient(ds).call("on_load")
    assert client.state["eval_key"] == "v2"  # the newest
    client.call("on_history_run", row=0, key="v1")
    assert client.state["eval_key"] == "v1"
    assert client.shown["choices"]["eval_key"] == "v1"
