"""What the model monitor panel shows, from the monitoring operators' numbers: text, tables, plots.

Pure formatting: every number comes from :mod:`..operators.monitoring`,
:mod:`..operators.monitor_alerts` or :mod:`..operators.monitor_map`.
"""

import numpy as np

from ..plugin import monitoring as engine

PLOT_HEIGHT = 190
CLASS_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6",
                 "#9d755d", "#bab0ac", "#eeca3b")
#: Largest number of evaluated points drawn under the period's images on the map.
MAP_POINTS = 5000


def change(value, digits=1):
    """``+12.3%`` / ``-4.0%`` / ``n/a`` (no previous period)."""
    return "n/a" if value is None else "%+.*f%%" % (digits, value)


def num(value, fmt="%.3f"):
    return "-" if value is None else fmt % value


def headline_md(stats, settings):
    """The period's three numbers with their changes against the previous period."""
    c = stats["change"]
    inf = stats["mean_inference_time"]
    return ("**%s – %s** (%s buckets; change against the previous %s)\n\n"
            "| Requests | Mean confidence | Mean inference time |\n|---|---|---|\n"
            "| **%d** (%s) | **%s** (%s) | **%s** (%s) |" % (
                stats["start"].strftime("%Y-%m-%d %H:%M"), stats["end"].strftime("%Y-%m-%d %H:%M"),
                stats["unit"], _span(stats), stats["requests"], change(c["requests"]),
                num(stats["mean_confidence"]), change(c["mean_confidence"]),
                "-" if inf is None else "%.1f ms" % inf, change(c["mean_inference_time"])))


def _span(stats):
    days = (stats["end"] - stats["start"]).total_seconds() / 86400
    return "%.3g days" % days


def models_md(per_model):
    """One row per model (prediction field or model field value)."""
    rows = ["| Model | Requests | Labels | Mean confidence | Mean inference time |",
            "|---|---|---|---|---|"]
    for name, s in per_model:
        c = s["change"]
        rows.append("| %s | %d (%s) | %d | %s (%s) | %s (%s) |" % (
            name, s["requests"], change(c["requests"]), s.get("labels", 0),
            num(s["mean_confidence"]), change(c["mean_confidence"]),
            num(s["mean_inference_time"], "%.1f ms"), change(c["mean_inference_time"])))
    return "\n".join(rows)


def classes_md(rows, limit=12):
    """Detections per class, their share and the share's change in points."""
    out = ["| Class | Detections | Share | Change of share |", "|---|---|---|---|"]
    for r in rows[:limit]:
        out.append("| %s | %d (%s) | %.1f%% | %s |" % (
            r["class"], r["count"], change(r["count_change"], 0), r["share"],
            "n/a" if r["share_change"] is None else "%+.1f pt" % r["share_change"]))
    return "\n".join(out)


def time_plots(stats):
    """Traces of the four time plots: requests, mean confidence, inference time, class mix.
    Every bar's ``x`` is its bucket's start (ISO), which a click hands back."""
    xs = [b["start"].isoformat() for b in stats["buckets"]]

    def bar(values, name, colour):
        return [{"type": "bar", "x": xs, "y": values, "name": name,
                 "marker": {"color": colour}}]

    classes = [r["class"] for r in stats["classes"] if r["count"] > 0]
    mix = [{"type": "bar", "x": xs, "name": str(c), "marker": {"color": CLASS_COLOURS[i % 10]},
            "y": [b["classes"].get(c, 0) for b in stats["buckets"]]}
           for i, c in enumerate(classes)]
    return {"requests_plot": bar([b["requests"] for b in stats["buckets"]], "requests", "#4c78a8"),
            "confidence_plot": bar([b["mean_confidence"] for b in stats["buckets"]],
                                   "mean confidence", "#54a24b"),
            "inference_plot": bar([b["mean_inference_time"] for b in stats["buckets"]],
                                  "ms", "#f58518"),
            "classes_plot": mix}


def plot_layout(title, start=None, end=None, stacked=False):
    """A time plot's layout: every plot of a period on the same time axis."""
    xaxis = {"type": "date"}
    if start and end:
        xaxis["range"] = [start, end]
    layout = {"title": {"text": title, "font": {"size": 12}}, "height": PLOT_HEIGHT,
              "margin": {"l": 40, "r": 10, "t": 28, "b": 30}, "showlegend": stacked,
              "xaxis": xaxis, "bargap": 0.1}
    if stacked:
        layout.update(barmode="stack", legend={"orientation": "h", "y": -0.25, "font": {"size": 9}})
    return layout


def recent_rows(rows, meta):
    """The inference table's rows, JSON-ready."""
    out = []
    for r in rows:
        when = r["time"].strftime("%Y-%m-%d %H:%M") if r["time"] else ""
        out.append({"id": r["id"], "time": when,
                    "labels": r["labels"], "classes": r["classes"],
                    "top_confidence": num(r["top_confidence"]),
                    "inference_time": num(r["inference_time"], "%.1f"),
                    **{m: "" if r.get(m) is None else str(r[m]) for m in meta}})
    return out


def rules_md(rules):
    if not rules:
        return "No alert rule yet: add one below."
    return "\n".join("- %s" % (r["name"] + (" (class %s)" % r["class"] if r.get("class") else ""))
                     for r in rules)


def history_rows(history, limit=30):
    """The fired alerts, newest first."""
    out = []
    for h in reversed(history[-limit:]):
        end = h.get("end")
        out.append({"fired": h["fired_at"].strftime("%Y-%m-%d %H:%M") if h.get("fired_at") else "",
                    "period_end": end.strftime("%Y-%m-%d") if hasattr(end, "strftime") else
                    str(end or "")[:10], "rule": h["name"], "message": h["message"],
                    "samples": len(h.get("sample_ids") or [])})
    return out


def drift_md(result):
    """The drift test's verdict and the features that moved most, in words."""
    if not result:
        return ("No drift check for this period yet: **Check drift** compares the period's "
                "images with the evaluated images of the error map.")
    d, p = result["drift"], result["placement"]
    verdict = "drifted" if d["p_value"] < 0.05 else "no significant drift"
    lines = ["**Drift** (energy distance on the map's %s, %d permutations): score **%.3f**, "
             "p = %.3f: %s (%d period images against %d evaluated)." % (
                 d.get("embeddings", "descriptor"), d["permutations"], d["score"], d["p_value"],
                 verdict, d["n_period"], d["n_reference"])]
    for f in d["features"][:4]:
        lines.append("- " + f["phrase"])
    if p.get("expected_error_rate") is not None:
        lines.append("\n**Expected error rate** of the period: **%.1f%%** (each image weighted by "
                     "the measured error rate of its cluster on the error map; evaluated images: "
                     "%.1f%%)." % (100 * p["expected_error_rate"],
                                   100 * (p.get("reference_error_rate") or 0)))
    return "\n".join(lines)


def grown_rows(placement, limit=6):
    """The clusters whose share grew most in the period."""
    rows = []
    for r in (placement or {}).get("clusters", [])[:limit]:
        rate = r["error_rate"]
        described = r.get("description")
        rows.append({"cluster": r["cluster"], "rank": r.get("rank") or "",
                     "error_rate": "-" if rate is None else "%.0f%%" % (100 * rate),
                     "period_share": "%.0f%%" % (100 * r["period_share"]),
                     "reference_share": "%.0f%%" % (100 * r["reference_share"]),
                     "change": "%+.0f pt" % (100 * r["share_change"]),
                     "description": "; ".join(described) if isinstance(described, list)
                     else str(described or "")})
    return rows


def map_traces(ref_xy, ref_failed, new_xy, seed=0):
    """The evaluated points (grey: correct, red: failed) and the period's images over them."""
    ref_xy, ref_failed = np.asarray(ref_xy), np.asarray(ref_failed)
    if len(ref_xy) > MAP_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(len(ref_xy), MAP_POINTS, replace=False))
        ref_xy, ref_failed = ref_xy[keep], ref_failed[keep]
    traces = []
    for name, sel, colour in (("evaluated: correct", ref_failed == 0, "#c8c8c8"),
                              ("evaluated: failed", ref_failed == 1, "#f4a6a6")):
        traces.append({"type": "scattergl", "mode": "markers", "name": name,
                       "x": ref_xy[sel, 0].round(3).tolist(), "y": ref_xy[sel, 1].round(3).tolist(),
                       "marker": {"size": 5, "color": colour}})
    new_xy = np.asarray(new_xy)
    traces.append({"type": "scattergl", "mode": "markers", "name": "this period",
                   "x": new_xy[:, 0].round(3).tolist() if len(new_xy) else [],
                   "y": new_xy[:, 1].round(3).tolist() if len(new_xy) else [],
                   "marker": {"size": 7, "color": "#1f4e9c", "symbol": "diamond"}})
    return traces


RULE_CHOICES = list(engine.RULE_KINDS.items())
