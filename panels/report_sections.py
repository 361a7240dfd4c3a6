"""The report's sections of one run, for every task, from what the evaluation
explorer draws.

The panel's browser component draws every task from one shape: the sections
at every slider step (``steps``) and at the current confidence (``current``),
see :func:`.sections.iou_steps` (detection) and the task builders
(:mod:`.task_explorer`). :class:`RunContent` builds that shape once for the
run's operating point and the report draws it statically, so its numbers are
the panel's. Each section is a function ``(doc, content, report) -> bool``
listed in :data:`SECTIONS` (False: nothing to show); adding a section is
adding a function there (:mod:`.report_extras` holds those that need the
samples, the error map, the history or a second run).
"""

from types import SimpleNamespace

from ..operators import run_history, segmentation_run
from ..plugin import history, report_html as rh
from . import figures, sections, task_explorer
from .runs import load

MAX_BAR_CLASSES = 40  # the class bars and table of a report page; the matrix: TOP_MATRIX
TOP_MATRIX = 20
CURRENT_COLOR = "#222222"


class RunContent:
    """Everything the report shows of run ``eval_key`` at ``confidence`` (default:
    the panel's default, the optimal (max F1) threshold)."""

    def __init__(self, dataset, eval_key, confidence=None):
        ev, info = load(dataset, eval_key)
        self.dataset, self.eval_key, self.ev, self.info = dataset, eval_key, ev, info
        self.task = info["task"]
        self.config = SimpleNamespace(**run_history.run_fields(dataset, eval_key))
        if self.task == "detection":
            self._detection(confidence)
        else:
            self._task(confidence)

    def _detection(self, confidence):
        ev, info = self.ev, self.info
        self.iou = self.config.iou
        overall, _ = ev.sweeps(self.iou)
        optimal = overall.optimal()
        self.confidence = float(confidence) if confidence is not None else (
            optimal["confidence"] if optimal else 0.0)
        now = sections.at_confidences(
            ev, self.iou, [self.confidence], num_images=info["num_images"],
            covers=info["covers"], table_classes=range(ev.num_classes))
        ordered = figures.sort_rows(now["rows"][0], "errors", descending=True)
        index = {c: k for k, c in enumerate(ev.classes)}
        self.bar_classes = [index[r["class"]] for r in ordered[:MAX_BAR_CLASSES]]
        _, _, self.matrix_classes = figures.confusion_figure(now["confusion"][0], ev.classes,
                                                             TOP_MATRIX)
        self.steps = sections.iou_steps(
            ev, self.iou, self.confidence, bar_classes=self.bar_classes,
            matrix_classes=self.matrix_classes, members=None, num_images=info["num_images"],
            covers=info["covers"])
        self.current = figures.operating_point_at(ev, self.iou, self.confidence,
                                                  self.bar_classes, self.matrix_classes,
                                                  confusion=now["confusion"][0])
        self.current["sections"] = sections.browser_current(now, self.bar_classes)
        self.headline = dict(now["whole"][0], num_images=info["num_images"])
        self.recommendations = now["recommendations"][0]
        self.delta_ap = info.get("delta_ap") or ev.delta_ap(self.iou)

    def _task(self, confidence):
        ev, info = self.ev, self.info
        self.iou = None
        sec = task_explorer.sections(ev, info)
        conf = sec.optimal() if confidence is None else float(confidence)
        self.confidence = float(conf) if sec.slider and conf is not None else 0.0
        ordered = figures.sort_rows(sec.rows(self.confidence), "errors", descending=True)
        index = {c: k for k, c in enumerate(ev.classes)}
        self.bar_classes = [index[r["class"]] for r in ordered[:MAX_BAR_CLASSES]]
        self.matrix_classes = sec.matrix_classes(self.confidence, TOP_MATRIX, None)
        self.steps = sec.steps(self.bar_classes, self.matrix_classes)
        self.current = sec.current(self.confidence, self.bar_classes, self.matrix_classes)
        self.headline = segmentation_run.summarize(ev) if self.task == "segmentation" else \
            ev.summary(self.confidence)
        self.recommendations = self.current["sections"]["recommendations"]
        self.delta_ap = None

    # -- the browser component's drawing, static ------------------------------------

    def threshold_figure(self):
        t = self.steps["threshold"]
        layout = dict(t["layout"])
        layout["shapes"] = list(layout.get("shapes") or []) + [
            {"type": "line", "x0": self.confidence, "x1": self.confidence, "y0": 0, "y1": 1,
             "yref": "paper", "line": {"color": CURRENT_COLOR, "width": 1.5}}]
        return t["traces"], layout

    def class_bars(self):
        c = self.steps["classes"]
        traces = [{"type": "bar", "name": name, "x": c["x"], "y": ys, "marker": {"color": color}}
                  for (name, color), ys in zip(c["series"], self.current["bars"])]
        return traces, c["layout"]

    def confusion(self):
        c = self.steps["confusion"]
        return [dict(c["trace"], z=self.current["z"])], c["layout"]

    def class_table(self):
        """``(columns, rows)`` of the per-class table at the operating point."""
        t = self.steps["sections"]["table"]
        rows = []
        for fixed, moving in zip(t["rows"], self.current["sections"]["table"]):
            rows.append(dict(fixed, **dict(zip(t["moving"], moving))))
        return list(zip(t["keys"], t["labels"])), rows

    def engine_rows(self):
        """The engine's own per-class rows at the operating point (unrounded)."""
        if self.task == "detection":
            return self.ev.per_class(self.confidence, iou=self.iou)
        if self.task == "segmentation":
            return self.headline["per_class"]
        return self.ev.per_class(self.confidence)

    def error_types(self):
        e = self.steps["sections"]["errors"]
        return [dict(e["trace"], y=self.current["sections"]["errors"])], e["layout"]

    def point_text(self):
        if self.task == "detection":
            return "IoU %.2f, confidence %s" % (self.iou, _conf(self.confidence))
        return "confidence %s" % _conf(self.confidence) if self.steps.get("thresholds") else ""


def _conf(value):
    from .texts import confidence_text

    return confidence_text(value)


# -- sections: (doc, content, report) -> True when something was added ----------------

def summary(doc, c, report):
    blocks = doc.section("summary", "Summary and verdict")
    blocks.append(rh.markdown(c.current["sections"]["summary"]))
    fixed = [e for e in c.steps.get("extras") or () if e.get("md")]
    blocks.extend(rh.markdown(e["md"]) for e in fixed)
    return True


def curves(doc, c, report):
    blocks = doc.section("curves", "Precision, recall and F1 against confidence")
    traces, layout = c.threshold_figure()
    blocks.append(rh.paragraph("The operating point (solid line) is at %s; dashed: the optimal "
                               "threshold (max F1)." % c.point_text()))
    blocks.append(doc.figure(traces, layout))
    if c.steps.get("pr"):
        pr = c.steps["pr"]
        blocks.append("<h3>Precision-recall curves</h3>")
        blocks.append(doc.figure(pr["traces"], pr["layout"]))
    for extra in c.steps.get("extras") or ():
        if extra.get("traces"):
            blocks.append("<h3>%s</h3>" % rh.inline(extra["title"]))
            blocks.append(doc.figure(extra["traces"], extra["layout"]))
    return True


def per_class(doc, c, report):
    blocks = doc.section("classes", "Performance by class")
    traces, layout = c.class_bars()
    n = c.ev.num_classes
    if len(c.bar_classes) < n:
        blocks.append(rh.paragraph("The %d classes with the most errors of %d." % (
            len(c.bar_classes), n)))
    blocks.append(doc.figure(traces, layout))
    columns, rows = c.class_table()
    blocks.append(rh.table(columns, rows, numeric={k for k, _ in columns if k != "class"}))
    doc.data.setdefault("runs", {}).setdefault(c.eval_key, {})["per_class"] = c.engine_rows()
    return True


def confusion(doc, c, report):
    blocks = doc.section("confusion", "Confusion matrix")
    traces, layout = c.confusion()
    if len(c.matrix_classes) < c.ev.num_classes:
        blocks.append(rh.paragraph("The %d most confused classes of %d." % (
            len(c.matrix_classes), c.ev.num_classes)))
    blocks.append(doc.figure(traces, layout))
    return True


def error_types(doc, c, report):
    blocks = doc.section("errors", "Error types")
    traces, layout = c.error_types()
    blocks.append(doc.figure(traces, layout))
    names = traces[0]["x"]
    blocks.append(rh.table([("type", "Error type"), ("count", "Count")],
                           [{"type": n, "count": v} for n, v in zip(names, traces[0]["y"])],
                           numeric={"count"}))
    if c.delta_ap:
        traces, layout = figures.delta_ap_figure(c.delta_ap)
        blocks.append("<h3>dAP: AP gained by fixing each error type (TIDE)</h3>")
        blocks.append(doc.figure(traces, layout))
    return True


def recommendations(doc, c, report):
    recs = c.recommendations or []
    blocks = doc.section("recommendations", "Recommendations")
    if not recs:
        blocks.append(rh.paragraph("No rule fires at this operating point."))
    for r in recs:
        blocks.append("<h3>%s</h3>%s%s" % (rh.inline(r["title"]), rh.paragraph(r["evidence"]),
                                           rh.paragraph("**What to do:** " + r["action"])))
    return True


COUNTS = ("tp", "fp", "fn", "num_gt", "num_pred", "num_images", "num_samples")


def headline_numbers(c):
    """The run's headline numbers at the report's operating point (JSON-ready)."""
    keys = history.HEADLINE[c.task] + COUNTS
    return dict({k: c.headline[k] for k in keys if k in c.headline}, confidence=c.confidence)


SECTIONS = [summary, curves, per_class, confusion, error_types, recommendations]
