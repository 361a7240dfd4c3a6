"""The report's sections that need more than the run's analysis: thumbnails of
error examples (the samples' images), failure clusters (the run's error map),
the automatic slice search (the samples' fields), the history of the runs and
the comparison with a second run.

Same signature as :mod:`.report_sections`: ``(doc, content, report) -> bool``;
``report`` holds the dataset, the second run's content (``other``) and the
number of thumbnails per group (``thumbs``).
"""

import numpy as np

from ..operators import compare_runs, run_history, slices as slice_ops
from ..plugin import classification as cls, errors, history, report_html as rh
from ..plugin import slices as slice_engine
from . import cluster_report, history_section, map_data, map_hover, map_tasks

CLUSTERS = 5  # failure clusters described


def examples(doc, c, report):
    """Thumbnails of the run's worst errors at the operating point."""
    n = report["thumbs"]
    if n <= 0:
        return False
    examples_of = {"detection": _detection_examples, "classification": _classification_examples,
                   "segmentation": _segmentation_examples}.get(c.task)
    groups = examples_of(c, n) if examples_of else []
    groups = [(title, items) for title, items in groups if items]
    if not groups:
        return False
    blocks = doc.section("examples", "Error examples")
    for title, items in groups:
        blocks.append("<h3>%s</h3>" % rh.inline(title))
        blocks.append(rh.thumbnails(items))
    return True


def _detection_examples(c, n):
    ev = c.ev
    a = ev.assess(c.iou, c.confidence)
    fp = np.flatnonzero((a.pred_error >= 0) & (a.pred_error != errors.ERROR_TYPES.index("correct")))
    fp = fp[np.argsort(-ev.pred_score[fp], kind="stable")[:n]]
    missed = np.flatnonzero(a.gt_error == errors.MISSED)[:n]
    preds = [(int(ev.pred_image[p]), c.config.pred_field, str(ev.pred_ids[p]),
              "%s · %.2f · %s" % (ev.classes[ev.pred_label[p]], ev.pred_score[p],
                                  errors.ERROR_TYPES[a.pred_error[p]])) for p in fp]
    gts = [(int(ev.gt_image[g]), c.config.gt_field, str(ev.gt_ids[g]),
            "missed %s" % ev.classes[ev.gt_label[g]]) for g in missed]
    return [("Most confident false detections", _crops(c, preds)),
            ("Missed objects", _crops(c, gts))]


def _crops(c, items):
    samples = _samples(c.dataset, [str(c.ev.image_ids[i]) for i, _, _, _ in items])
    out = []
    for (i, field, label_id, caption) in items:
        sample = samples[str(c.ev.image_ids[i])]
        box = map_hover._box(sample, field, label_id)
        out.append((map_hover.thumbnail(sample.filepath, box), caption))
    return out


def _classification_examples(c, n):
    ev = c.ev
    a = ev.assess(c.confidence)
    confused = np.flatnonzero(a.error == cls.ERROR_TYPES.index("confused"))
    confused = confused[np.argsort(-ev.pred_score[confused], kind="stable")[:n]]
    ids = [str(ev.sample_ids[i]) for i in confused]
    samples = _samples(c.dataset, ids)
    return [("Most confident confusions", [
        (map_hover.thumbnail(samples[s].filepath), "%s taken for %s · %.2f" % (
            ev.classes[ev.gt_label[i]], ev.classes[ev.pred_label[i]], ev.pred_score[i]))
        for s, i in zip(ids, confused)])]


def _segmentation_examples(c, n):
    key = c.eval_key + "_miou"
    view = c.dataset.load_evaluation_view(c.eval_key).exists(key).sort_by(key).limit(n)
    return [("Images with the lowest mIoU", [
        (map_hover.thumbnail(path), "mIoU %.2f · %s" % (m, kind or "–"))
        for path, m, kind in zip(*view.values(["filepath", key, c.eval_key + "_error"]))])]


def _samples(dataset, ids):
    """``{id: sample}`` in one query."""
    return {s.id: s for s in dataset.select(list(dict.fromkeys(ids)))} if ids else {}


def clusters(doc, c, report):
    """The failure clusters of the run's newest error map, with member thumbnails."""
    keys = [k for k in map_data.maps(c.dataset)
            if getattr(c.dataset.get_run_info("error_map_" + k).config, "eval_key", None)
            == c.eval_key]
    if not keys:
        return False
    m = map_data.load(c.dataset, keys[-1])
    blocks = doc.section("clusters", "Failure clusters (error map '%s')" % keys[-1])
    note = cluster_report.ranking_note(m.summaries)
    if note:
        blocks.append(rh.paragraph(note))
    rows = [{"rank": "#%d" % (r + 1), "size": s["size"], "error_rate": s.get("error_rate"),
             "excess": s.get("excess_errors"), "p": cluster_report.p_text(s.get("p_value")),
             "what": cluster_report.phrases_md(s)} for r, s in enumerate(m.summaries)]
    blocks.append(rh.table([("rank", "Cluster"), ("size", "Size"), ("error_rate", "Error rate"),
                            ("excess", "Excess errors"), ("p", "p-value"),
                            ("what", "What they share")], rows,
                           numeric={"size", "error_rate", "excess"}))
    assessment = c.ev.assess(c.iou, c.info.get("confidence")) if c.task == "detection" else None
    for r, s in enumerate(m.summaries[:CLUSTERS]):
        members = np.flatnonzero(m.arrays["cluster"] == s["id"])
        failing = members[m.arrays["error"][members] != "correct"]
        picks = np.r_[failing, np.setdiff1d(members, failing)][:max(report["thumbs"], 0)]
        items = []
        for i in picks:
            card = map_hover.point_info(c.dataset, m, c.ev, assessment, int(i), c.iou,
                                        c.info.get("confidence")) if c.task == "detection" \
                else map_tasks.hover(c.dataset, m, int(i))
            items.append((card["thumbnail"], " · ".join(card["lines"][:2])))
        blocks.append("<h3>Cluster #%d: %d %s</h3>" % (
            r + 1, s["size"], "images" if m.config.level == "samples" else "objects"))
        rules = cluster_report.slices_md(s)
        blocks.append(rh.paragraph(cluster_report.phrases_md(s) or "No distinguishing trait."))
        if rules:
            blocks.append(rh.paragraph(rules))
        if items:
            blocks.append(rh.thumbnails(items))
    doc.data["clusters"] = [{k: s.get(k) for k in ("size", "error_rate", "excess_errors",
                                                   "p_value", "description")}
                            for s in m.summaries]
    return True


def slices_found(doc, c, report):
    """The automatic slice search (:func:`operators.slices.search`): the metadata
    conditions whose error rate is highest for their size, each slice's headline
    metric with its bootstrap 95% interval and its gap to the whole run."""
    if c.task not in slice_engine.TASKS:  # the tasks slices exist for
        return False
    sources = [s for s, _ in slice_ops.list_sources(c.dataset, c.eval_key)
               if s.startswith(("field:", "feature:"))]
    if not sources:
        return False
    found = slice_ops.search(c.dataset, c.eval_key, sources=sources)
    if not found["rows"]:
        return False
    metric = found["metric"]
    blocks = doc.section("slices", "Slices: where the run fails most (automatic search)")
    blocks.append(rh.paragraph(
        "Conditions on the sample fields and descriptor features (up to 3 at once) whose error "
        "rate is highest for their size, at the run's own operating point; %s with its bootstrap "
        "95%% interval (images resampled, seeded) and its gap to the whole run (%s). **small**: "
        "too few images to trust." % (metric, _fmt(found["overall"]["values"].get(metric)))))
    rows = []
    for r in found["rows"][:12]:
        ci = (r.get("ci") or {}).get(metric)
        rows.append({"slice": r["description"], "size": r["size"],
                     "value": _fmt(r["values"].get(metric)) + (
                         " [%s, %s]" % (_fmt(ci[0]), _fmt(ci[1])) if ci else ""),
                     "gap": None if r.get("gap") is None else "%+.3f" % r["gap"],
                     "error": r.get("error"), "small": "small" if r.get("small") else ""})
    blocks.append(rh.table([("slice", "Slice"), ("size", "Images"), ("error", "Error rate"),
                            ("value", "%s [95%% CI]" % metric), ("gap", "Gap"),
                            ("small", "")], rows, numeric={"size", "error"}))
    doc.data["slices"] = [{k: r.get(k) for k in ("description", "size", "values", "gap",
                                                 "error", "small")} for r in found["rows"]]
    return True


def _fmt(v):
    return "–" if v is None else "%.3f" % v


def history_of_runs(doc, c, report):
    """The runs of this task over time, against the oldest as the baseline."""
    runs = run_history.runs(c.dataset, task=c.task)
    if len(runs) < 2:
        return False
    metric = history.HEADLINE[c.task][0]
    s = history.series(runs, metric, runs[0]["key"])
    flags = history.regressions(runs, runs[0]["key"])
    blocks = doc.section("history", "History of the runs")
    blocks.append(rh.markdown(history_section.intro_md(runs, runs[0]["key"], flags)))
    traces, layout = history_section.figure(runs, s)
    blocks.append(doc.figure(traces, layout))
    columns = history_section.columns(metric)
    blocks.append(rh.table([tuple(col) for col in columns],
                           history_section.table_rows(runs, s, flags)))
    return True


def comparison(doc, c, report):
    """Side by side with a second run, as :func:`..operators.compare_runs.compare_runs`
    gives it: headline metrics, their difference with a paired bootstrap 95% interval
    (the same resampled images for both runs), per-class deltas, both curves."""
    o = report.get("other")
    if o is None:
        return False
    result = compare_runs.compare_runs(c.dataset, c.eval_key, o.eval_key)
    blocks = doc.section("comparison", "Comparison: %s against %s" % (o.eval_key, c.eval_key))
    num = lambda v: "-" if v is None else "%.3f" % v  # noqa: E731
    rows = []
    for metric, m in result["metrics"].items():
        if m["diff"] is None:
            continue
        ci = m["ci"]
        rows.append({"metric": metric, "a": m["a"], "b": m["b"], "delta": "%+.3f" % m["diff"],
                     "ci": "-" if not ci else "[%+.3f, %+.3f]" % tuple(ci),
                     "verdict": "no clear difference" if not ci else
                     ("worse" if ci[1] < 0 else "better" if ci[0] > 0 else "no clear difference")})
    columns = [("metric", "Metric"), ("a", c.eval_key), ("b", o.eval_key),
               ("delta", "Difference"), ("ci", "95% CI"), ("verdict", "Verdict")]
    blocks.append(rh.paragraph(
        "On the %d %s both runs evaluated, each at its own operating point (the one of its "
        "per-label fields). The interval of the difference is a paired bootstrap (%d "
        "replicates, the same resampled %s for both runs, seed %d), as compare_runs gives it: "
        "**worse** or **better** when it excludes 0." % (
            result["num_units"], result["unit"], result["num_boot"], result["unit"],
            result["seed"])))
    blocks.append(rh.table(columns, rows, numeric={"a", "b"}))
    per = [r for r in result["per_class"] if r["delta"] is not None]
    if per:
        blocks.append("<h3>Per-class differences (%s), largest first</h3>" %
                      rh.inline(result["per_class_metric"]))
        blocks.append(rh.table([("class", "Class"), ("a", c.eval_key), ("b", o.eval_key),
                                ("delta", "Difference")],
                               [dict(r, a=num(r["a"]), b=num(r["b"]), delta="%+.3f" % r["delta"])
                                for r in per[:30]]))
    ta, la = c.threshold_figure()
    tb, _ = o.threshold_figure()
    both = [dict(t, name="%s %s" % (c.eval_key, t["name"])) for t in ta] + \
        [dict(t, name="%s %s" % (o.eval_key, t["name"]), line={"dash": "dot", "shape": "hv"})
         for t in tb]
    blocks.append("<h3>Both runs against confidence (dotted: %s)</h3>" % rh.inline(o.eval_key))
    blocks.append(doc.figure(both, dict(la, shapes=[], annotations=[])))
    doc.data["comparison"] = rows
    return True


SECTIONS = [examples, clusters, slices_found, comparison, history_of_runs]
