"""The model monitor panel's callbacks, as the App calls them, on a real production dataset."""

from datetime import datetime, timedelta

import pytest

from tests.test_monitoring_ops import END, direct, production_dataset
from tests.test_panel_callbacks import PanelClient
from tests.taskdata import plugin_module

PANEL = "@error-atlas/error-atlas/model_monitor"


@pytest.fixture(scope="module")
def dataset():
    ds = production_dataset(seed=3, n=1500)
    yield ds
    ds.delete()


def test_load_periods_filters_bars_rows_and_alerts(dataset):
    client = PanelClient(dataset, panel=PANEL).call("on_load")
    state, data = client.state, client.data
    assert state["problem"] is None and state["period"] == "week"
    # the week ends just after the newest prediction
    last = dataset.bounds("timestamp")[1]
    start, end = datetime.fromisoformat(state["start"]), datetime.fromisoformat(state["end"])
    assert end - start == timedelta(days=7) and start < last < end
    cur = direct(dataset, start, end)
    assert "| **%d** (" % cur["requests"] in state["headline_md"]
    assert sum(data["plots_a"]["requests_plot"][0]["y"]) == cur["requests"]
    assert len(data["recent"]) == 50 and data["recent"][0]["camera"] in ("north", "south")
    # a bar's click: its bucket's samples
    x = data["plots_a"]["requests_plot"][0]["x"][1]
    client.call("on_bucket", x=x)
    view = client.view()
    assert len(view) == data["plots_a"]["requests_plot"][0]["y"][1]
    # a row opens its sample in the modal
    client.call("on_recent_row", row=3)
    assert any(r["operator_uri"].endswith("open_sample")
               and r["params"]["id"] == state["recent_ids"][3] for r in client.requests)
    # a filter narrows everything
    client.call("on_filter", path="filters.filter_camera", value="north")
    north = direct(dataset, start, end, camera="north")
    assert sum(client.data["plots_a"]["requests_plot"][0]["y"]) == north["requests"]
    assert all(r["camera"] == "north" for r in client.data["recent"])
    client.call("on_filter", path="filters.filter_camera", value="(all)")
    # the month: daily buckets over 30 days
    client.state.update(custom_range={"custom_start": start.isoformat(),
                                 "custom_end": (start + timedelta(days=2)).isoformat()})
    client.call("on_custom")
    assert client.state["unit"] == "hour" and client.state["start"] == start.isoformat()
    client.call("on_month")
    assert client.state["unit"] == "day" and client.state["period"] == "month"
    client.call("on_week")
    # a rule added in the panel, checked now: it fires, its history row shows its samples
    client.state.update(rule_form={"rule_kind": "mean_confidence_below", "rule_threshold": 0.99})
    client.call("on_add_rule")
    assert "mean confidence below 0.99" in client.state["rules_md"]
    client.call("on_check_alerts")
    assert client.data["history"][0]["message"].startswith("mean confidence")
    client.call("on_history_row", row=0)
    assert len(client.view()) == client.data["history"][0]["samples"] == 100
    client.state.update(rule_delete={"rule_to_delete": client.state["rule_ids"][0][0]})
    client.call("on_delete_rule")
    assert client.state["rule_ids"] == []


def test_a_dataset_without_a_time_field_gets_a_message():
    import fiftyone as fo

    ds = fo.Dataset()
    ds.add_sample(fo.Sample(filepath="/nonexistent/a.jpg"))
    try:
        client = PanelClient(ds, panel=PANEL).call("on_load")
        assert "No prediction field" in client.state["problem"]
    finally:
        ds.delete()
