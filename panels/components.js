/*
 * The panels' parts drawn in the browser. Plain JavaScript on the App's own React,
 * MUI, markdown and operator modules (window globals the App exposes to plugins),
 * so there is nothing to build.
 *
 * The evaluation explorer's sections that follow the confidence threshold:
 *
 * - OperatingPoint: the summary, the App's-view section, the IoU selector, the
 *   confidence slider, precision / recall / F1 against confidence, the class bars
 *   and the confusion matrix;
 * - OperatingPointDetails (below the panel's class controls): the per-class table,
 *   the recommendations, the error types and the precision-recall curves. It shows the step OperatingPoint
 *   shows, shared through a store keyed by the panel (``group``).
 *
 * Why in the browser: a Python panel answers a slider move through the App's
 * round trip (request, response, re-render of the whole panel), which measured
 * 0.25 s for a panel that only prints the value and 0.55-0.75 s with these
 * plots; the issue asks for 0.3 s. Python sends every slider step's numbers and
 * texts once per IoU (sections.iou_steps): the panel's IoU with the render, the
 * others when asked (on_preload) after it; a slider move or an IoU choice here
 * only picks a step. When the slider is released the value goes to the panel's
 * on_confidence (an event, not a state change, which would first make the App
 * save its spaces and reload its page query).
 *
 * The vector explorer's map (ErrorMapScatter): see its comment below.
 */
(function () {
  "use strict";
  const React = window.React;
  const h = React.createElement;
  const foo = window.__foo__;
  const mui = window.__mui__;
  const fop = window.__fop__;
  const foc = window.__foc__ || {};

  // group (panel id) -> {step, value, data, view, id}: what OperatingPoint shows,
  // for OperatingPointDetails
  const shared = new Map();
  const listeners = new Map();
  function publish(group, value) {
    shared.set(group, value);
    (listeners.get(group) || new Set()).forEach((f) => f(value));
  }
  function useShared(group) {
    const [value, setValue] = React.useState(() => shared.get(group));
    React.useEffect(() => {
      if (!listeners.has(group)) listeners.set(group, new Set());
      listeners.get(group).add(setValue);
      setValue(shared.get(group));
      return () => listeners.get(group).delete(setValue);
    }, [group]);
    return value;
  }

  const COMMIT_DELAY_MS = 150;
  const HEADING = { fontSize: "1.25rem", fontWeight: 700, margin: "16px 0 8px", cursor: "pointer" };

  // Both panels fit a third of a laptop's screen (400-600 px): compact tables whose
  // text wraps at word boundaries (a word is broken only if it alone is wider
  // than the panel), and below 600 px a wide table (the per-class table, the
  // clusters' table) as one block per row, its cells labelled, since its columns
  // cannot fit there. One implementation for both panels (BLOCK_CSS).
  const BLOCK_CSS = `
.ea-eval-details, .ea-vx-sections { container-type: inline-size; }
@container (max-width: 600px) {
  .ea-blocks thead { display: none; }
  .ea-blocks, .ea-blocks tbody { display: block; }
  .ea-blocks tr { display: flex; flex-wrap: wrap; column-gap: 14px; padding: 6px 4px;
                  border-bottom: 1px solid rgba(128, 128, 128, 0.35); }
  .ea-blocks td { display: block; border: 0; padding: 0; }
  .ea-blocks td::before { content: attr(data-label) " "; opacity: 0.65; }
  .ea-blocks td[data-head] { flex-basis: 100%; font-weight: 700; }
  .ea-blocks td[data-head]::before { content: none; }
  .ea-blocks td[data-wide] { flex-basis: 100%; }
}`;
  const EVAL_CSS = `
.ea-eval { max-width: 100%; min-width: 0; overflow-wrap: anywhere; }
.ea-eval table { width: auto; max-width: 100%; }
.ea-eval th, .ea-eval td { padding: 4px 8px; }
.ea-eval .MuiButton-root { max-width: 100%; }` + BLOCK_CSS;

  // The vector explorer's tables (the clusters', the cluster's classes) shrink to
  // the panel and wrap their text ("What they share") at word boundaries.
  const VX = '[data-cy="panel-content-vector_explorer"]';
  const VX_CSS = `
${VX} table { width: 100% !important; min-width: 0 !important; }
${VX} .MuiPaper-root, ${VX} .MuiTableContainer-root { max-width: 100%; min-width: 0; }
${VX} th, ${VX} td { padding: 4px 6px !important; white-space: normal !important;
                     overflow-wrap: break-word; word-break: normal; }
${VX} .MuiButton-root { max-width: 100%; }` + BLOCK_CSS;

  // A section that can be folded, open at first (as in FiftyOne's Model
  // Evaluation panel); a folded section draws nothing.
  function Section(props) {
    const [open, setOpen] = React.useState(true);
    return h("details", { open: open, "data-ea-section": props.name,
                          onToggle: (e) => setOpen(e.currentTarget.open) },
      h("summary", { style: HEADING }, props.title),
      open ? props.children : null);
  }

  function nearest(thresholds, value) {
    const j = Math.round(value * (thresholds.length - 1));
    return Math.abs(thresholds[j] - value) < 1e-9 ? j : -1;
  }

  function fmt(v, digits) {
    return v === null || v === undefined ? "-" : Number(v).toFixed(digits);
  }

  // Markdown rendered by the App's own component (as the panel's markdown), or as text.
  const Markdown = React.memo(function Markdown(props) {
    const body = foc.Markdown ? h(foc.Markdown, null, props.text) :
      h("pre", { style: { whiteSpace: "pre-wrap" } }, props.text);
    return h("div", { "data-ea-md": props.name, "data-ea-at": props.at }, body);
  }, (a, b) => a.text === b.text && a.at === b.at);

  // One plot through the App's own PlotlyView (clicks go to the panel's methods).
  // Redrawn only when its revision changes: the App re-renders the whole panel
  // on every event, and a plot rebuilt each time costs a plotly update.
  const Plot = React.memo(function Plot(props) {
    const schema = React.useMemo(() => foo.types.Property.fromJSON({
      type: { name: "Object", properties: {
        plot: { type: { name: "Object", properties: {} },
                view: { name: "PlotlyView", component: "PlotlyView", data: props.traces,
                        layout: props.layout, config: props.config || { displayModeBar: false },
                        on_click: props.onClick } } } },
      view: { name: "View", component: "ObjectView" },
    }), [props.traces, props.layout, props.config, props.onClick]);
    return h("div", { "data-ea-plot": props.name },
             h(foo.OperatorIO, { schema: schema, data: {}, type: "output", id: props.name }));
  }, (a, b) => a.rev === b.rev && a.name === b.name && a.onClick === b.onClick);

  function iouKey(iou) {  // as sections.iou_key
    const n = Math.round(100 * parseFloat(iou));
    return "i" + (n < 10 ? "0" : "") + n;
  }

  function OperatingPoint(props) {
    const held = props.data || {};  // {revision, ious: {iou key: every slider step}}
    const view = (props.schema && props.schema.view) || {};
    const current = view.current || {};  // at view.iou, with every render
    const [value, setValue] = React.useState(current.value);
    const timer = React.useRef(null);
    const iouTimer = React.useRef(null);
    const triggerEvent = foo.usePanelEvent();
    React.useEffect(() => () => { clearTimeout(timer.current); clearTimeout(iouTimer.current); }, []);

    // Python moved the threshold (Back to optimal, a click on the curves, another
    // run): follow it. It says so by a new current.moved; other renders carry the
    // value this slider last sent, which the user may have moved on from.
    React.useEffect(() => setValue(current.value), [current.moved]);

    // The IoU is chosen here too. With its steps here (Python sends every IoU's
    // once the panel is drawn: on_preload) it is drawn at once; Python hears of
    // it by an event (a state change would first make the App save its spaces
    // and reload its page query) and redraws the rest.
    const [iou, setIou] = React.useState(view.iou);
    React.useEffect(() => setIou(view.iou), [view.iou]);
    const ious = held.ious || {};
    const preloaded = React.useRef(null);
    React.useEffect(() => {
      if (!held.revision || !view.on_preload || preloaded.current === held.revision) return;
      preloaded.current = held.revision;
      triggerEvent(props.id, { operator: view.on_preload, params: { revision: held.revision } });
    }, [held.revision]);
    const local = ious[iouKey(iou)] ? iou : view.iou;  // until Python has sent that IoU's steps
    const data = ious[iouKey(local)] || {};
    const atCurrent = local === view.iou;
    const thresholds = data.thresholds || [];

    const ready = thresholds.length && value !== undefined && value !== null;
    let j = -1;
    if (ready && !(atCurrent && Math.abs(value - current.value) < 1e-9)) {
      j = nearest(thresholds, value);
      // an off-grid value (an optimum) at another IoU: its step, until Python answers
      if (j < 0 && !atCurrent) j = Math.round(value * (thresholds.length - 1));
    }
    const sections = data.sections || {};
    const step = j < 0 ? Object.assign({}, current, current.sections || {}) : {
      bars: data.classes.grid[j],
      z: data.confusion.grid ? data.confusion.grid[j] : (atCurrent ? current.z : null),
      point: data.points.grid[j],
      summary: sections.summary[j],
      view: sections.view ? sections.view[j] : null,
      table: sections.table.grid[j],
      errors: sections.errors.grid[j],
      recommendations: sections.recommendations.grid[j].map((i) => sections.recommendations.items[i]),
      more: sections.recommendations.more[j],
      text: data.points.text ? data.points.text[j] : null,
      ztext: data.confusion.text ? data.confusion.text[j] : null,  // e.g. images per cell
    };
    const rev = held.revision + "|" + iouKey(local) + "|" + (j < 0 ? "c" + current.value : j);
    // before the paint, so that the details are drawn in the same frame
    React.useLayoutEffect(() => {
      if (ready) publish(view.group, { step: step, value: value, iou: local, rev: rev, data: data,
                                      view: view, id: props.id });
    }, [rev, value, ready]);
    if (!ready) return null;

    const thresholdLayout = Object.assign({}, data.threshold.layout, {
      datarevision: rev,
      shapes: (data.threshold.layout.shapes || []).concat([{
        type: "line", x0: value, x1: value, y0: 0, y1: 1, yref: "paper",
        line: { color: "#ffffff", dash: "solid", width: 2 } }]),
    });
    const barTraces = data.classes.series.map((s, i) => ({
      type: "bar", name: s[0], x: data.classes.x, y: step.bars[i], marker: { color: s[1] } }));
    const heatmap = [Object.assign({}, data.confusion.trace, { z: step.z || [] },
                                   step.ztext ? { text: step.ztext } : {})];
    const p = step.point;

    const onChange = (event, v) => setValue(v);
    // Python hears of a released value (for clicks, the vector explorer and the
    // next visit); sending an event makes the App re-render the panel: wait
    // until this step is painted, and for a burst of key presses to end.
    const onCommit = (event, v) => {
      clearTimeout(timer.current);
      timer.current = setTimeout(() => triggerEvent(props.id, {
        operator: view.on_confidence, params: { value: v } }), COMMIT_DELAY_MS);
    };
    const Slider = mui.Slider;
    // Python hears of a choice once this step is painted: sending an event makes
    // the App re-render the panel, which would otherwise delay the paint.
    const onIou = (event) => {
      const chosen = event.target.value;
      setIou(chosen);
      clearTimeout(iouTimer.current);
      iouTimer.current = setTimeout(() => triggerEvent(props.id, {
        operator: view.on_iou, params: { value: chosen } }), COMMIT_DELAY_MS);
    };
    const button = (label, operator) => h(mui.Button, {
      size: "small", variant: "outlined", style: { marginRight: 8 },
      onClick: () => triggerEvent(props.id, { operator: operator, params: {} }) }, label);
    const at = String(value);
    // the slider's value and the optimal threshold read alike at 2 decimals: name the optimum
    const atOptimal = data.optimal !== null && data.optimal !== undefined &&
      Math.abs(value - data.optimal) < 1e-9;
    // classification and segmentation runs: their own titles and text, no IoU,
    // no slider without a confidence (view.no_slider)
    const titles = Object.assign({ threshold: "Precision, recall and F1 against confidence",
                                   classes: "Performance by class", confusion: "Confusion matrix" },
                                 data.titles || {});
    const pointText = step.text || ((atOptimal ? "At the optimal threshold (max F1), confidence " :
      "At confidence ") + fmt(value, 2) + ": precision " + fmt(p[3], 3) + ", recall " +
      fmt(p[4], 3) + ", F1 " + fmt(p[5], 3) + " (TP " + p[0] + ", FP " + p[1] + ", FN " + p[2] + ")");
    const slider = !view.no_slider;
    return h("div", { className: "ea-operating-point ea-eval", "data-ea-ious": Object.keys(ious).length,
                      "data-ea-iou": local },
      h("style", null, EVAL_CSS),
      h(Section, { name: "summary", title: "Summary" },
        h(Markdown, { name: "summary", text: step.summary || "", at: at }),
        step.view ? h(Markdown, { name: "view", text: step.view, at: at }) : null),
      h(Section, { name: "threshold", title: slider ? titles.threshold : "Operating point" },
      h("div", { style: { display: "flex", flexWrap: "wrap", gap: 8 } },
        slider ? button("Back to optimal", view.on_back_to_optimal) : null,
        button("Re-evaluate (the App's view, if any)", view.on_evaluate),
        view.on_save_thresholds ? button("Save per-class thresholds", view.on_save_thresholds) : null),
      view.notice ? h("div", { "data-ea": "notice", role: "status", style: { margin: "6px 0" } },
        h(Markdown, { name: "notice", text: view.notice })) : null,
      (view.iou_choices || []).length ? h(mui.TextField, {
        select: true, size: "small", label: "IoU threshold", value: iou || "",
        onChange: onIou, style: { minWidth: 160, margin: "8px 0" } },
        view.iou_choices.map((c) => h(mui.MenuItem, { key: c, value: c }, c))) : null,
      slider ? h("div", { style: { fontSize: 13, opacity: 0.8 } }, "Confidence threshold") : null,
      slider ? h(Slider, { value: value, min: 0, max: 1, step: 0.01, valueLabelDisplay: "auto",
                           valueLabelFormat: (v) => fmt(v, 2), onChange: onChange,
                           onChangeCommitted: onCommit, "aria-label": "Confidence threshold" }) : null,
      h("div", { "data-ea": "operating-point-text", style: { margin: "4px 0 8px" } }, pointText),
      slider ? h(Plot, { name: "threshold_plot", rev: rev + "|" + value, traces: data.threshold.traces,
                         layout: thresholdLayout,
                         onClick: view.on_threshold_click }) : null),
      h(Section, { name: "classes", title: titles.classes },
      h(Plot, { name: "class_plot", rev: rev, traces: barTraces,
                layout: Object.assign({}, data.classes.layout, { datarevision: rev }),
                onClick: view.on_class_click })),
      h(Section, { name: "confusion", title: titles.confusion + (data.confusion.grid ? "" :
        " (this many classes follow the slider when it is released)") },
      h(Plot, { name: "confusion_plot", rev: rev, traces: heatmap,
                layout: Object.assign({}, data.confusion.layout, { datarevision: rev }),
                onClick: view.on_cell_click })));
  }

  function cell(v) {
    return typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : (v === null ? "-" : String(v));
  }

  // The per-class table, the recommendations and the error types at the step
  // OperatingPoint shows; their clicks go to the panel's methods.
  function OperatingPointDetails(props) {
    const view = (props.schema && props.schema.view) || {};
    const s = useShared(view.group);
    const triggerEvent = foo.usePanelEvent();
    if (!s || !s.data.sections) return null;
    const step = s.step, table = s.data.sections.table, errs = s.data.sections.errors;
    const at = String(s.value);
    const send = (operator, params) => triggerEvent(props.id, { operator: operator, params: params });
    const T = mui;
    const rows = table.rows.map((row, i) => {
      const moving = step.table[i] || [];
      const full = Object.assign({}, row);
      table.moving.forEach((key, m) => { full[key] = moving[m]; });
      return h(T.TableRow, { key: row["class"], hover: true, style: { cursor: "pointer" },
                             onClick: () => send(view.on_class_click, { x: row["class"] }) },
        table.keys.map((key, k) => h(T.TableCell, { key: key, size: "small", "data-key": key,
                                                    "data-head": key === "class" ? "" : undefined,
                                                    "data-label": table.labels[k] }, cell(full[key]))));
    });
    const recs = step.recommendations || [];
    const errorTrace = Object.assign({}, errs.trace, { y: step.errors });
    const titles = Object.assign({ errors: "Error types", pr: "Precision-recall curves" },
                                 s.data.titles || {});
    // what no threshold changes, for classification runs (top-k, ROC, reliability)
    const extras = (s.data.extras || []).map((e) => h(Section, { key: e.name, name: e.name, title: e.title },
      e.md ? h(Markdown, { name: e.name, text: e.md }) :
        h(Plot, { name: e.name + "_plot", rev: s.rev.split("|")[0] + "|" + e.name,
                  traces: e.traces, layout: e.layout })));
    return h("div", { className: "ea-operating-point-details ea-eval ea-eval-details", "data-ea-at": at,
                      "data-ea-iou": s.iou },
      h(Section, { name: "class_table", title: "Per-class table" },
      h(T.TableContainer, { style: { maxHeight: 480 } },
        h(T.Table, { size: "small", stickyHeader: true, className: "ea-class-table ea-blocks" },
          h(T.TableHead, null, h(T.TableRow, null,
            table.labels.map((label) => h(T.TableCell, { key: label }, label)))),
          h(T.TableBody, null, rows)))),
      h(Section, { name: "recommendations", title: "Recommendations" },
      recs.length ? recs.map((rec, i) => h("div", {
        key: rec.rule + i, "data-ea-rec": rec.rule,
        style: { display: "flex", alignItems: "center", gap: 12, margin: "4px 0" } },
        h("div", { style: { flex: 1, minWidth: 0 } }, h(Markdown, {
          name: "rec", text: "**" + rec.title + ".** " + rec.evidence + " " + rec.action, at: at })),
        Object.keys(rec.show || {}).length ? h(mui.Button, {
          size: "small", variant: "outlined",
          onClick: () => send(view.on_recommendation, { show: rec.show }) }, "Show") : null))
        : h("p", null, "Nothing stands out at this operating point."),
      step.more ? h("p", null, "... and " + step.more + " less severe findings.") : null),
      h(Section, { name: "errors", title: titles.errors },
      h(Plot, { name: "error_plot", rev: s.rev, traces: [errorTrace],
                layout: Object.assign({}, errs.layout, { datarevision: s.rev }),
                onClick: view.on_error_click })),
      s.data.pr ? h(Section, { name: "pr", title: titles.pr },
      h(Plot, { name: "pr_plot", rev: s.rev.split("|").slice(0, 2).join("|"),
                traces: s.data.pr.traces, layout: s.data.pr.layout })) : null,
      extras);
  }

  // The vector explorer's map: the App's PlotlyView, with box and lasso selection
  // drawn here instead of by plotly. At 50,000 points plotly's own selection costs
  // more than the second: it restyles every point of the WebGL scatter
  // (a full redraw, ~0.25-0.4 s in headless Chromium's software WebGL), re-applies
  // the selection at each of the App's re-renders (one redraw each, a dozen per
  // selection measured), and the App sends the selected points' list to Python
  // (~460 KB for 5,000 points). Here the drawn region goes to the panel's
  // on_region as a few numbers (a box's corners or a lasso's vertices, in map
  // coordinates) with the legend groups hidden; Python finds the points, sets
  // the App's view, and patches the "in view" trace (the last) that marks them.
  // That trace is drawn here too, on a canvas over the plot: giving it to plotly
  // would redraw every point while the App loads the grid. A click without a
  // drag is plotly's: on_click.
  const DRAG_PX = 4;
  const TOOLS = [["box", "Box select"], ["lasso", "Lasso select"], ["pan", "Pan"]];

  function toMap(gd, x, y) {  // page px -> map coordinates
    const r = gd.getBoundingClientRect(), fl = gd._fullLayout, s = fl._size;
    return [fl.xaxis.p2d(x - r.left - s.l), fl.yaxis.p2d(y - r.top - s.t)];
  }

  function inPlotArea(gd, x, y) {
    const r = gd.getBoundingClientRect(), s = gd._fullLayout._size;
    const px = x - r.left - s.l, py = y - r.top - s.t;
    return px >= 0 && py >= 0 && px <= s.w && py <= s.h;
  }

  // The "in view" points as rings on a canvas over the plot area, at the plot's
  // current axis ranges (redrawn after every zoom, pan or redraw).
  function drawLit(canvas, gd, lit) {
    const fl = gd && gd._fullLayout;
    if (!canvas || !fl || !fl.xaxis || !fl.xaxis.d2p) return;
    const box = canvas.parentNode.getBoundingClientRect(), r = gd.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(box.width * ratio);
    canvas.height = Math.round(box.height * ratio);
    const c = canvas.getContext("2d");
    c.setTransform(ratio, 0, 0, ratio, 0, 0);
    c.clearRect(0, 0, box.width, box.height);
    const xs = (lit && lit.x) || [], ys = (lit && lit.y) || [];
    if (!xs.length) return;
    const s = fl._size, xa = fl.xaxis, ya = fl.yaxis;
    const left = r.left - box.left + s.l, top = r.top - box.top + s.t;
    const marker = lit.marker || {}, line = marker.line || {};
    c.save();
    c.beginPath();
    c.rect(left, top, s.w, s.h);
    c.clip();
    c.strokeStyle = line.color || "#ffffff";
    c.lineWidth = line.width || 1.5;
    const radius = (marker.size || 9) / 2;
    c.beginPath();
    for (let i = 0; i < xs.length; i++) {
      const px = left + xa.d2p(xs[i]), py = top + ya.d2p(ys[i]);
      c.moveTo(px + radius, py);
      c.arc(px, py, radius, 0, 2 * Math.PI);
    }
    c.stroke();
    c.restore();
  }

  // The points of the shown groups inside a region (as the panel's map_region.points_in:
  // a box with its edges, or a polygon by the even-odd rule), as a trace to mark.
  function pointsIn(traces, hidden, region) {
    const out = { x: [], y: [] };
    let inside;
    if (region.box) {
      const b = region.box, x0 = Math.min(b[0], b[1]), x1 = Math.max(b[0], b[1]);
      const y0 = Math.min(b[2], b[3]), y1 = Math.max(b[2], b[3]);
      inside = (x, y) => x >= x0 && x <= x1 && y >= y0 && y <= y1;
    } else {
      const xs = region.lasso[0], ys = region.lasso[1], n = xs.length;
      inside = (x, y) => {
        let hit = false;
        for (let i = 0, j = n - 1; i < n; j = i++) {
          if ((ys[i] > y) !== (ys[j] > y) &&
              x < xs[i] + (y - ys[i]) * (xs[j] - xs[i]) / (ys[j] - ys[i])) hit = !hit;
        }
        return hit;
      };
    }
    traces.forEach((t, k) => {
      if (hidden.indexOf(k) >= 0) return;
      for (let i = 0; i < t.x.length; i++) {
        if (inside(t.x[i], t.y[i])) { out.x.push(t.x[i]); out.y.push(t.y[i]); }
      }
    });
    return out;
  }

  function ErrorMapScatter(props) {
    const view = (props.schema && props.schema.view) || {};
    const layout = view.layout || {};
    const data = Array.isArray(props.data) ? props.data : [];
    const last = data[data.length - 1];
    const sent = last && String(last.name).startsWith("in view") ? last : null;
    const traces = React.useMemo(() => (sent ? data.slice(0, -1) : data),
                                 [layout.datarevision, data.length]);
    // A region's points are marked here at once; Python answers a region with the
    // App's view only (patching the panel data makes the App deep-copy all of it,
    // 50,000 points, while it loads the grid), so the marks stand until Python
    // sends another "in view" trace (a new revision).
    const [local, setLocal] = React.useState(null);  // {x, y, after: revision}
    const litRevision = sent ? sent.revision : null;
    const lit = React.useMemo(() => (local && local.after === litRevision ?
      Object.assign({}, sent, { x: local.x, y: local.y }) : sent), [local, sent]);
    const canvas = React.useRef(null);
    const litRef = React.useRef(lit);
    litRef.current = lit;
    const [tool, setTool] = React.useState("box");
    const [shape, setShape] = React.useState(null);  // {tool, points: [[x, y] in wrapper px]}
    const wrap = React.useRef(null);
    const triggerEvent = foo.usePanelEvent();
    const latest = React.useRef({});
    latest.current = { tool: tool, send: (params) => {
      triggerEvent(props.id, { operator: view.on_region, params: params });
      setLocal(Object.assign(pointsIn(traces, params.hidden, params), { after: litRevision }));
      setShape(null);
    } };

    const hovered = useHoverCard(props.id, view.on_hover, layout.datarevision, wrap);
    latest.current.hover = hovered.on;

    // the rings: now, and after every zoom, pan or redraw of the plot (plotly's
    // div may be replaced: looked for at every render); hovering a point asks
    // Python for its card
    React.useEffect(() => {
      const gd = wrap.current && wrap.current.querySelector(".js-plotly-plot");
      if (gd && gd.on && !gd.__eaLit) {
        gd.__eaLit = true;
        ["plotly_afterplot", "plotly_relayout", "plotly_relayouting"].forEach(
          (name) => gd.on(name, () => drawLit(canvas.current, gd, litRef.current)));
        gd.on("plotly_hover", (e) => latest.current.hover(gd, e));
        gd.on("plotly_unhover", () => latest.current.hover(gd, null));
      }
    });
    React.useEffect(() => drawLit(canvas.current,
                                  wrap.current && wrap.current.querySelector(".js-plotly-plot"),
                                  litRef.current), [lit]);

    React.useEffect(() => {
      const el = wrap.current;
      if (!el) return undefined;
      const onDown = (e) => {
        const gd = el.querySelector(".js-plotly-plot");
        const now = latest.current;
        if (e.button !== 0 || now.tool === "pan" || !gd || !gd._fullLayout ||
            !inPlotArea(gd, e.clientX, e.clientY) ||
            e.target.closest(".modebar, .legend")) return;
        const box = el.getBoundingClientRect();
        const pageXY = [[e.clientX, e.clientY]];
        let dragging = false;
        const onMove = (ev) => {
          if (!dragging && Math.hypot(ev.clientX - e.clientX, ev.clientY - e.clientY) < DRAG_PX) return;
          // plotly with dragmode false takes every mouse-up for a click (on_click
          // would then replace this region's view with one point): tell it a drag
          if (!dragging) now.hover(gd, null);  // no card (nor a request for one) while drawing
          gd._dragged = dragging = true;
          if (now.tool === "lasso") pageXY.push([ev.clientX, ev.clientY]);
          else pageXY[1] = [ev.clientX, ev.clientY];
          setShape({ tool: now.tool, points: pageXY.map((p) => [p[0] - box.left, p[1] - box.top]) });
        };
        const onUp = (ev) => {
          window.removeEventListener("mousemove", onMove, true);
          window.removeEventListener("mouseup", onUp, true);
          if (!dragging) return;  // a click: plotly's
          if (now.tool !== "lasso") pageXY[1] = [ev.clientX, ev.clientY];
          const pts = pageXY.map((p) => toMap(gd, p[0], p[1]));
          const hidden = (gd._fullData || []).filter((t) => t.visible === "legendonly").map((t) => t.index);
          if (now.tool === "lasso") {
            if (pts.length >= 3) now.send({ lasso: [pts.map((p) => p[0]), pts.map((p) => p[1])],
                                            hidden: hidden });
          } else {
            now.send({ box: [pts[0][0], pts[1][0], pts[0][1], pts[1][1]], hidden: hidden });
          }
        };
        window.addEventListener("mousemove", onMove, true);
        window.addEventListener("mouseup", onUp, true);
      };
      el.addEventListener("mousedown", onDown, true);
      return () => el.removeEventListener("mousedown", onDown, true);
    }, []);

    const plotLayout = React.useMemo(() => Object.assign({}, layout, {
      dragmode: tool === "pan" ? "pan" : false }), [layout, tool]);
    let drawn = null;
    if (shape && shape.points.length > 1) {
      const p = shape.points;
      const style = { fill: "rgba(255,255,255,0.08)", stroke: "#ffffff", strokeDasharray: "4 3",
                      strokeWidth: 1.5 };
      drawn = h("svg", { "data-ea-region": shape.tool, style: {
        position: "absolute", left: 0, top: 0, width: "100%", height: "100%",
        pointerEvents: "none" } },
        shape.tool === "lasso" ? h("polygon", Object.assign({
          points: p.map((q) => q.join(",")).join(" ") }, style)) :
          h("rect", Object.assign({ x: Math.min(p[0][0], p[1][0]), y: Math.min(p[0][1], p[1][1]),
                                    width: Math.abs(p[1][0] - p[0][0]),
                                    height: Math.abs(p[1][1] - p[0][1]) }, style)));
    }
    const n = lit ? (lit.x || []).length : 0;
    return h("div", { "data-ea-map-tool": tool },
      h("style", null, VX_CSS),
      h("div", { style: { display: "flex", flexWrap: "wrap", gap: 8, margin: "4px 0",
                          alignItems: "center" } },
        TOOLS.map((t) => h(mui.Button, {
          key: t[0], size: "small", variant: tool === t[0] ? "contained" : "outlined",
          "data-ea-tool": t[0], onClick: () => setTool(t[0]) }, t[1])),
        h("span", { "data-ea-in-view": n, style: { marginLeft: 12, fontSize: 13, opacity: 0.85 } },
          n ? "\u25cb in view (" + n + ")" : "")),
      h("div", { ref: wrap, style: { position: "relative" } },
        h(Plot, { name: "scatter", traces: traces, layout: plotLayout, config: view.config,
                  rev: [layout.datarevision, tool, traces.length].join("|"),
                  onClick: view.on_click }),
        h("canvas", { ref: canvas, style: {
          position: "absolute", left: 0, top: 0, width: "100%", height: "100%",
          pointerEvents: "none" } }),
        drawn, shape ? null : hovered.card));
  }

  // What a hovered map point shows: its text lines and a thumbnail, asked of the
  // panel (on_hover) for that point only, when the pointer rests on it, and
  // returned as the event's result (no render); kept per point for the map's
  // revision. Drawn in the plot's corner away from the point.
  const HOVER_DELAY_MS = 60;
  const HOVER_KEEP = 500;

  function useHoverCard(panelId, operator, revision, wrap) {
    const triggerEvent = foo.usePanelEvent();
    const [card, setCard] = React.useState(null);  // {key, left, lines, thumbnail}
    const known = React.useRef(new Map());
    const wanted = React.useRef(null);
    const timer = React.useRef(null);
    React.useEffect(() => { known.current = new Map(); setCard(null); }, [revision]);
    React.useEffect(() => () => clearTimeout(timer.current), []);
    const on = (gd, e) => {
      clearTimeout(timer.current);
      const pt = e && e.points && e.points[0];
      const dragging = e && e.event && e.event.buttons;  // a box or lasso being drawn
      if (!pt || !operator || dragging) {
        wanted.current = null;
        timer.current = setTimeout(() => setCard(null), 2 * HOVER_DELAY_MS);
        return;
      }
      const key = pt.curveNumber + "|" + pt.pointNumber;
      const box = wrap.current.getBoundingClientRect(), r = gd.getBoundingClientRect();
      const px = r.left - box.left + gd._fullLayout._size.l + gd._fullLayout.xaxis.d2p(pt.x);
      const left = px < box.width / 2;  // the card goes to the other side
      wanted.current = key;
      const show = (answer) => setCard(Object.assign({ key: key, right: left }, answer));
      if (known.current.has(key)) { show(known.current.get(key)); return; }
      timer.current = setTimeout(() => {
        show({ lines: null, thumbnail: null });
        triggerEvent(panelId, { operator: operator, params: {
          trace_idx: pt.curveNumber, idx: pt.pointNumber }, callback: (res) => {
          const answer = res && res.result;
          if (!answer || !answer.lines) return;
          if (known.current.size > HOVER_KEEP) known.current = new Map();
          known.current.set(key, answer);
          if (wanted.current === key) show(answer);
        } });
      }, HOVER_DELAY_MS);
    };
    const view = card ? h("div", { "data-ea-hover": card.key, style: {
      position: "absolute", top: 40, [card.right ? "right" : "left"]: 14, maxWidth: 220,
      padding: 6, borderRadius: 4, background: "rgba(20, 20, 20, 0.9)", color: "#ffffff",
      fontSize: 12, lineHeight: 1.35, pointerEvents: "none", zIndex: 5,
      boxShadow: "0 1px 4px rgba(0, 0, 0, 0.5)" } },
      card.thumbnail ? h("img", { "data-ea-hover-thumb": "", src: card.thumbnail, alt: "",
                                  style: { display: "block", maxWidth: 128, maxHeight: 128,
                                           marginBottom: 4 } }) : null,
      (card.lines || ["\u2026"]).map((line, i) => h("div", { key: i, "data-ea-hover-line": i },
                                                        line))) : null;
    return { on: on, card: view };
  }

  // The vector explorer's clusters, ranked, as a folding section: a click on a row
  // goes to the panel's on_click_row ({row}). Below 600 px one block per cluster.
  function ClusterTable(props) {
    const view = (props.schema && props.schema.view) || {};
    const rows = Array.isArray(props.data) ? props.data : [];
    const columns = view.columns || [];
    const triggerEvent = foo.usePanelEvent();
    const T = mui;
    const text = (key, v) => (key === "rank" ? "#" + v : cell(v));
    return h("div", { className: "ea-vx-sections" },
      h(Section, { name: "clusters", title: view.title },
        view.note ? h(Markdown, { name: "ranking_note", text: view.note }) : null,
        h(T.Table, { size: "small", className: "ea-cluster-table ea-blocks" },
          h(T.TableHead, null, h(T.TableRow, null,
            columns.map((c) => h(T.TableCell, { key: c[0] }, c[1])))),
          h(T.TableBody, null, rows.map((row, i) => h(T.TableRow, {
            key: i, hover: true, style: { cursor: "pointer" },
            onClick: () => triggerEvent(props.id, { operator: view.on_click_row,
                                                    params: { row: i } }) },
            columns.map((c) => h(T.TableCell, {
              key: c[0], "data-key": c[0], "data-label": c[1],
              "data-head": c[0] === "rank" ? "" : undefined,
              "data-wide": c[0] === "description" ? "" : undefined }, text(c[0], row[c[0]])))))))));
  }

  // The chosen cluster: its verdict and numbers, its classes and its confusion
  // sub-matrix (the component's data; a click on a cell goes to on_click), each a
  // folding section.
  function ClusterReport(props) {
    const view = (props.schema && props.schema.view) || {};
    const traces = Array.isArray(props.data) ? props.data : [];
    const layout = view.layout || {};
    return h("div", { className: "ea-vx-sections" },
      h(Section, { name: "cluster", title: view.title },
        h(Markdown, { name: "cluster_md", text: view.verdict || "" }),
        h(Markdown, { name: "cluster_report_md", text: view.report || "" })),
      h(Section, { name: "cluster_classes", title: "Classes in the cluster" },
        h(Markdown, { name: "cluster_classes_md", text: view.classes || "" })),
      h(Section, { name: "cluster_confusion", title: "Confusion within the cluster" },
        h(Plot, { name: "cluster_plot", traces: traces, layout: layout,
                  rev: String(layout.datarevision) + "|" + traces.length,
                  onClick: view.on_click })));
  }

  // A table whose rows come with the view (the History's runs), as a folding
  // section; below 600 px one block per row with labelled cells, as the per-class
  // table. view: name, title, columns [[key, label]], rows, head (the key of the
  // row's title cell), wide (keys of cells given a line of their own), and
  // on_click_row (called with {row, key: the row's head cell}).
  function RowsTable(props) {
    const view = (props.schema && props.schema.view) || {};
    const columns = view.columns || [];
    const rows = view.rows || [];
    const wide = view.wide || [];
    const triggerEvent = foo.usePanelEvent();
    const T = mui;
    const click = (row, i) => view.on_click_row ? () => triggerEvent(props.id, {
      operator: view.on_click_row, params: { row: i, key: row[view.head] } }) : undefined;
    return h("div", { className: "ea-eval ea-eval-details", "data-ea-table": view.name },
      h("style", null, EVAL_CSS),
      h(Section, { name: view.name, title: view.title },
        h(T.Table, { size: "small", className: "ea-blocks" },
          h(T.TableHead, null, h(T.TableRow, null,
            columns.map((c) => h(T.TableCell, { key: c[0] }, c[1])))),
          h(T.TableBody, null, rows.map((row, i) => h(T.TableRow, {
            key: i, hover: !!view.on_click_row, onClick: click(row, i),
            style: view.on_click_row ? { cursor: "pointer" } : undefined },
            columns.map((c) => h(T.TableCell, {
              key: c[0], "data-key": c[0], "data-label": c[1],
              "data-head": c[0] === view.head ? "" : undefined,
              "data-wide": wide.includes(c[0]) ? "" : undefined }, cell(row[c[0]])))))))));
  }

  fop.registerComponent({
    name: "RowsTable", label: "RowsTable", component: RowsTable,
    type: fop.PluginComponentType.Component, activator: () => true,
  });

  fop.registerComponent({
    name: "ClusterTable", label: "ClusterTable", component: ClusterTable,
    type: fop.PluginComponentType.Component, activator: () => true,
  });

  fop.registerComponent({
    name: "ClusterReport", label: "ClusterReport", component: ClusterReport,
    type: fop.PluginComponentType.Component, activator: () => true,
  });

  fop.registerComponent({
    name: "ErrorMapScatter", label: "ErrorMapScatter", component: ErrorMapScatter,
    type: fop.PluginComponentType.Component, activator: () => true,
  });

  fop.registerComponent({
    name: "OperatingPointDetails", label: "OperatingPointDetails", component: OperatingPointDetails,
    type: fop.PluginComponentType.Component, activator: () => true,
  });

  fop.registerComponent({
    name: "OperatingPoint", label: "OperatingPoint", component: OperatingPoint,
    type: fop.PluginComponentType.Component, activator: () => true,
  });
})();
