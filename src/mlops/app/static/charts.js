// Metric charts with the vendored uPlot: series by step, NaN drawn as a gap, infinite values
// left out with a visible note, colours that follow light and dark mode.
"use strict";

(function () {
  const mlops = (window.mlops = window.mlops || {});
  const HEIGHT = 220;
  const PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1",
    "#edc948", "#76b7b2", "#ff9da7", "#9c755f", "#79706e",
  ];

  /** ``count`` distinct colours: a categorical palette, then golden-angle hues. */
  function palette(count) {
    const colors = [];
    for (let i = 0; i < count; i++) {
      if (i < PALETTE.length) colors.push(PALETTE[i]);
      else colors.push("hsl(" + Math.round((i * 137.508) % 360) + ", 62%, 52%)");
    }
    return colors;
  }

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function theme() {
    return {
      text: cssVar("--text", "#1b2430"),
      muted: cssVar("--muted", "#5a6573"),
      grid: cssVar("--grid", "rgba(0,0,0,0.08)"),
    };
  }

  /** Points from the API as chart arrays: NaN and ±Infinity become null (a gap), and the
   *  infinite ones are counted (with their steps) so the page can say they are not drawn. */
  function toSeries(points) {
    const steps = new Array(points.length);
    const values = new Array(points.length);
    const times = new Array(points.length);
    const infinite = [];
    const nan = [];
    let finite = 0;
    for (let i = 0; i < points.length; i++) {
      const step = Number(points[i].step);
      const value = mlops.toNumber(points[i].value);
      steps[i] = step;
      times[i] = seconds(points[i].timestamp);
      if (value === null || Number.isNaN(value)) {
        values[i] = null;
        if (value !== null) nan.push(i);
      } else if (!Number.isFinite(value)) {
        values[i] = null;
        infinite.push({ step: step, positive: value > 0 });
      } else {
        values[i] = value;
        finite++;
      }
    }
    return { steps: steps, values: values, times: times, infinite: infinite, nan: nan, finite: finite };
  }

  /** The x of each point of a series for an x axis mode (step, wall time, time since its
   *  first point), and its values for a y scale (log: values <= 0 become gaps). */
  function axes(series, mode, log) {
    const start = series.times.length ? series.times[0] : 0;
    const xs = series.steps.map(function (step, i) {
      if (mode === "time") return series.times[i];
      if (mode === "relative") return series.times[i] - start;
      return step;
    });
    const ys = log ? series.values.map(function (v) { return v !== null && v > 0 ? v : null; }) : series.values;
    return { steps: xs, values: ys, nanAt: series.nan.map(function (i) { return xs[i]; }) };
  }

  /** One x array for several series with their own steps: a step a series lacks is
   *  ``undefined`` (uPlot draws across it), a NaN or infinite value stays ``null`` (a gap). */
  function join(seriesList) {
    const all = new Set();
    for (const s of seriesList) for (const step of s.steps) all.add(step);
    const xs = Array.from(all).sort(function (a, b) { return a - b; });
    const index = new Map(xs.map(function (x, i) { return [x, i]; }));
    const out = [xs];
    for (const s of seriesList) {
      const ys = new Array(xs.length).fill(undefined);
      for (let i = 0; i < s.steps.length; i++) ys[index.get(s.steps[i])] = s.values[i];
      out.push(ys);
    }
    return out;
  }

  /** The sentence under a chart: infinite values not drawn, downsampling, no data. */
  function noteText(infinite, shown, total, nanCount) {
    const parts = [];
    if (nanCount) parts.push(nanCount + " NaN value" + (nanCount === 1 ? "" : "s") + " (× on the chart, a gap in the line)");
    if (infinite.length) {
      const where = infinite.slice(0, 3).map(function (p) {
        return (p.positive ? "+∞" : "−∞") + " at step " + p.step;
      });
      parts.push(
        infinite.length + " infinite value" + (infinite.length === 1 ? "" : "s") +
        " not drawn (" + where.join(", ") + (infinite.length > 3 ? ", …" : "") + ")"
      );
    }
    if (total && shown < total) {
      parts.push("downsampled: " + shown.toLocaleString() + " of " + total.toLocaleString() +
        " points (min and max of each bucket kept)");
    }
    return parts;
  }

  function setNote(node, parts, warning) {
    if (!node) return;
    node.textContent = parts.join(" · ");
    node.hidden = parts.length === 0;
    node.classList.toggle("info", !warning);
  }

  function axis(colors) {
    return {
      stroke: colors.muted,
      grid: { stroke: colors.grid, width: 1 },
      ticks: { stroke: colors.grid, width: 1 },
    };
  }

  /** A uPlot in ``container`` that follows the container's width. */
  function plot(container, series, data, legend, opts) {
    opts = opts || {};
    const colors = theme();
    const width = Math.max(container.clientWidth || 0, 240);
    const mode = opts.x || "step";
    const xAxis = Object.assign(axis(colors), { label: xTitle(mode), labelSize: 18 });
    if (mode === "relative") xAxis.values = function (u, splits) { return splits.map(duration); };
    const yAxis = Object.assign(axis(colors), { size: 56, label: (opts.yLabel || "") + (opts.log ? " (log scale)" : ""), labelSize: 18 });
    const markers = opts.nanAt || [];
    const options = {
      width: width,
      height: HEIGHT,
      scales: { x: { time: mode === "time" }, y: opts.log ? { distr: 3 } : {} },
      axes: [xAxis, yAxis],
      series: [{ label: xTitle(mode) }].concat(series),
      legend: { show: legend !== false },
      cursor: { drag: { x: true, y: false } },
      hooks: {
        draw: [function (u) {
          // NaN points: a cross on the floor of the plot, where the gap is.
          if (!markers.length) return;
          const ctx = u.ctx;
          const r = 4 * (window.devicePixelRatio || 1);
          const y = u.bbox.top + u.bbox.height - r - 2;
          ctx.save();
          ctx.strokeStyle = "#e15759";
          ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
          for (const x of markers) {
            const px = u.valToPos(x, "x", true);
            if (!(px >= u.bbox.left && px <= u.bbox.left + u.bbox.width)) continue;
            ctx.beginPath();
            ctx.moveTo(px - r, y - r); ctx.lineTo(px + r, y + r);
            ctx.moveTo(px + r, y - r); ctx.lineTo(px - r, y + r);
            ctx.stroke();
          }
          ctx.restore();
        }],
      },
    };
    if (container.uplot) container.uplot.destroy();
    container.textContent = "";
    const chart = new uPlot(options, data, container);
    container.uplot = chart;
    container.dataset.x = mode;
    container.dataset.xTitle = xAxis.label;
    container.dataset.yTitle = yAxis.label;
    container.setAttribute("aria-label", "Chart of " + (yAxis.label || "values") + " against " + xAxis.label);
    container.dataset.log = opts.log ? "1" : "0";
    container.dataset.nan = String(markers.length);
    if (window.ResizeObserver) {
      let last = width;
      new ResizeObserver(function () {
        const now = Math.max(container.clientWidth || 0, 240);
        if (Math.abs(now - last) > 2) {
          last = now;
          chart.setSize({ width: now, height: HEIGHT });
        }
      }).observe(container);
    }
    return chart;
  }

  function metricUrl(iterationId, name, maxPoints) {
    return "/api/v1/iterations/" + encodeURIComponent(iterationId) + "/metrics/" +
      encodeURIComponent(name) + "?max_points=" + (maxPoints || 1000);
  }

  function showMessage(container, text) {
    container.classList.remove("loading");
    container.textContent = "";
    container.appendChild(mlops.el("p", { class: "muted small" }, text));
  }


  /** A metric logged once per iteration (a final score), drawn as what it is: one value
   *  (``items`` of one) or a bar per iteration, never a lone dot on an empty line chart.
   *  ``items``: [{label, value, step, color}]; NaN is marked ×, infinities with an arrow. */
  function values(container, items) {
    container.classList.remove("loading");
    container.textContent = "";
    container.dataset.kind = items.length === 1 ? "value" : "bars";
    if (items.length === 1) {
      const item = items[0];
      const box = mlops.el("div", { class: "chart-value", "data-testid": "chart-value" });
      box.appendChild(mlops.el("span", { class: "chart-value-number" }, mlops.fmt(item.value)));
      box.appendChild(mlops.el("span", { class: "muted small" }, "logged once, at step " + item.step));
      container.appendChild(box);
      return;
    }
    const NS = "http://www.w3.org/2000/svg";
    const make = function (tag, attrs, text) {
      const node = document.createElementNS(NS, tag);
      for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const width = 480, height = 220, left = 56, right = 10, top = 12, bottom = 40;
    const finite = items.map((i) => i.value).filter((v) => typeof v === "number" && Number.isFinite(v));
    let lo = Math.min(0, ...finite), hi = Math.max(0, ...finite);
    if (lo === hi) hi = lo + 1;
    const y = scale(lo, hi, false, height - bottom, top);
    const svg = make("svg", { viewBox: "0 0 " + width + " " + height, role: "img", class: "chart-bars",
      "aria-label": "One value per iteration, as bars", "data-testid": "chart-bars" });
    svg.appendChild(make("line", { class: "axis", x1: left, y1: top, x2: left, y2: height - bottom }));
    for (const t of y.ticks(4)) {
      svg.appendChild(make("text", { x: left - 4, y: y.to(t) + 4, "text-anchor": "end" }, mlops.fmt(t)));
    }
    svg.appendChild(make("line", { class: "axis", x1: left, y1: y.to(0), x2: width - right, y2: y.to(0) }));
    const slot = (width - left - right) / items.length;
    items.forEach(function (item, i) {
      const x = left + slot * i + slot * 0.15, w = Math.max(2, slot * 0.7), mid = x + w / 2;
      const v = item.value;
      let bar;
      if (typeof v !== "number" || Number.isNaN(v)) {
        bar = make("text", { x: mid, y: y.to(0) - 4, "text-anchor": "middle", class: "nan-mark" }, "×");
      } else if (!Number.isFinite(v)) {
        bar = make("text", { x: mid, y: v > 0 ? top + 10 : height - bottom - 2, "text-anchor": "middle" }, v > 0 ? "↑ ∞" : "↓ −∞");
      } else {
        bar = make("rect", { x: x.toFixed(1), y: Math.min(y.to(v), y.to(0)).toFixed(1), width: w.toFixed(1),
          height: Math.abs(y.to(0) - y.to(v)).toFixed(1), "data-testid": "chart-bar" });
        bar.style.fill = item.color; // CSSOM: the CSP blocks style attributes
      }
      bar.appendChild(make("title", {}, item.label + ": " + mlops.fmt(v) + " (step " + item.step + ")"));
      svg.appendChild(bar);
      svg.appendChild(make("text", { x: mid, y: height - bottom + 14, "text-anchor": "middle" }, clip(item.label, 14)));
    });
    container.appendChild(svg);
  }

  // -- scales, ticks and labels (shared by uPlot charts and the experiment page's canvases) --
  /** Round-number ticks between ``min`` and ``max``: about ``count`` of them; on a log scale
   *  the powers of ten (with 2 and 5 between them when there are few decades). */
  function ticks(min, max, log, count) {
    if (!(max > min)) return [min];
    if (log && min > 0) {
      const out = [];
      const lo = Math.floor(Math.log10(min)), hi = Math.ceil(Math.log10(max));
      const extra = hi - lo <= 2 ? [1, 2, 5] : [1];
      for (let e = lo; e <= hi; e++) {
        for (const m of extra) {
          const v = m * Math.pow(10, e);
          if (v >= min * 0.999 && v <= max * 1.001) out.push(Number(v.toPrecision(12)));
        }
      }
      if (out.length >= 2) return out;
    }
    const raw = (max - min) / Math.max(1, count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map(function (m) { return m * power; }).find(function (s) { return s >= raw; }) || raw;
    const out = [];
    for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }

  /** A scale from values to pixels (``from`` for the low end, ``to`` for the high one),
   *  padded a little, linear or log10 (values must then be positive). */
  function scale(min, max, log, from, to) {
    if (!Number.isFinite(min) || !Number.isFinite(max)) { min = log ? 1 : 0; max = log ? 10 : 1; }
    let lo = log ? Math.log10(min) : min;
    let hi = log ? Math.log10(max) : max;
    if (lo === hi) {
      const pad = log ? 0.5 : Math.abs(lo) * 0.1 || 1;
      lo -= pad; hi += pad;
    } else {
      const pad = (hi - lo) * 0.05;
      lo -= pad; hi += pad;
    }
    const span = hi - lo;
    return {
      lo: log ? Math.pow(10, lo) : lo,
      hi: log ? Math.pow(10, hi) : hi,
      to: function (v) { return from + ((log ? Math.log10(v) : v) - lo) / span * (to - from); },
      from: function (p) { const t = lo + (p - from) / (to - from) * span; return log ? Math.pow(10, t) : t; },
      ticks: function (count) { return ticks(log ? Math.pow(10, lo) : lo, log ? Math.pow(10, hi) : hi, log, count); },
    };
  }

  /** Exponential moving average (debiased, as TensorBoard smooths); null stays a gap. */
  function ema(values, alpha) {
    let last = 0, weight = 0;
    return values.map(function (v) {
      if (v === null || !Number.isFinite(v)) return null;
      last = last * alpha + (1 - alpha) * v;
      weight = weight * alpha + (1 - alpha);
      return last / weight;
    });
  }

  function pad2(n) { return String(n).padStart(2, "0"); }

  /** A span of seconds as "45 s", "12.5 min", "3.2 h". */
  function duration(s) {
    const a = Math.abs(s);
    if (a < 120) return mlops.fmt(Number(s.toPrecision(3))) + " s";
    if (a < 7200) return mlops.fmt(Number((s / 60).toPrecision(3))) + " min";
    return mlops.fmt(Number((s / 3600).toPrecision(3))) + " h";
  }

  function xTitle(mode) {
    return { step: "Step", time: "Wall time (local)", relative: "Time since start" }[mode] || "Step";
  }

  function xLabel(mode, v, span) {
    if (mode === "time") {
      const d = new Date(v * 1000);
      const clock = pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + (span < 600 ? ":" + pad2(d.getSeconds()) : "");
      return span > 2 * 86400 ? (d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " + clock : clock;
    }
    if (mode === "relative") return duration(v);
    return mlops.fmt(v);
  }

  /** Epoch seconds of an ISO time from the API (a number is already seconds). */
  function seconds(value) {
    if (typeof value === "number") return value;
    const t = Date.parse(value);
    return Number.isNaN(t) ? null : t / 1000;
  }

  /** A string literal of the query language. */
  function quote(text) {
    return '"' + String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }

  const KEYWORDS = new Set(["and", "or", "not", "in", "like", "true", "false", "null"]);

  /** ``params.NAME`` / ``metrics.NAME`` with the name quoted when it needs to be. */
  function field(kind, name) {
    return kind + "." + (/^[A-Za-z_]\w*$/.test(name) && !KEYWORDS.has(name.toLowerCase()) ? name : quote(name));
  }

  function literal(value) {
    if (typeof value === "string") return quote(value);
    if (typeof value === "boolean") return value ? "true" : "false";
    if (typeof value === "number" && Number.isFinite(value)) return String(value);
    return null;
  }

  /** Blue (0) to orange (1). */
  function ramp(t) {
    return "hsl(" + Math.round(215 - 185 * t) + ", 70%, " + Math.round(45 + 5 * t) + "%)";
  }

  function clip(text, n) {
    text = String(text);
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  /** An axis over values (one per iteration, null when missing): numeric (log when positive
   *  and spanning two decades or more) or categorical (text, booleans, mixed); missing
   *  values (and NaN, ±∞) are placed at a "missing" tick apart from the axis. ``layout``
   *  gives its pixel range; ``condition`` turns a pixel range into a filter expression. */
  function axisOf(kind, name, values) {
    const present = [];
    let missing = 0;
    const isMissing = values.map(function (v) {
      const gone = v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v));
      if (gone) missing++;
      else present.push(v);
      return gone;
    });
    const numeric = present.length > 0 && present.every(function (v) { return typeof v === "number"; });
    const axis = { kind: numeric ? "num" : "cat", label: name, field: field(kind, name), missing: missing, log: false };
    let min = Infinity, max = -Infinity;
    let cats = [];
    const keyOf = function (v) { return typeof v === "string" ? v : JSON.stringify(v); };
    if (numeric) {
      for (const v of present) { if (v < min) min = v; if (v > max) max = v; }
      axis.log = min > 0 && max / min >= 100;
    } else {
      const seen = new Map();
      for (const v of present) if (!seen.has(keyOf(v))) seen.set(keyOf(v), v);
      cats = Array.from(seen.keys()).sort();
      axis.values = cats.map(function (k) { return seen.get(k); });
    }
    const index = new Map(cats.map(function (k, i) { return [k, i]; }));
    let sc = null, from = 0, to = 1;
    axis.layout = function (a, b) {
      from = a; to = b;
      sc = numeric ? scale(min, max, axis.log, a, b) : null;
      axis.missingY = axis.missingY === undefined ? a : axis.missingY;
    };
    axis.t = function (r) {
      if (isMissing[r]) return null;
      if (numeric) {
        if (max === min) return 0.5;
        return axis.log ? (Math.log10(values[r]) - Math.log10(min)) / (Math.log10(max) - Math.log10(min)) : (values[r] - min) / (max - min);
      }
      return (index.get(keyOf(values[r])) + 0.5) / cats.length;
    };
    axis.y = function (r) {
      if (isMissing[r]) return axis.missingY;
      if (numeric) return sc.to(values[r]);
      return from + (index.get(keyOf(values[r])) + 0.5) / cats.length * (to - from);
    };
    axis.isMissing = function (r) { return isMissing[r]; };
    axis.text = function (r) {
      const v = values[r];
      if (v === null || v === undefined) return "—";
      return typeof v === "number" ? mlops.fmt(v) : typeof v === "string" ? v : JSON.stringify(v);
    };
    axis.ticks = function () {
      if (numeric) return sc.ticks(5).map(function (t) { return { pos: sc.to(t), label: mlops.fmt(t) }; });
      const every = Math.max(1, Math.ceil(cats.length / 12));
      return cats.map(function (k, i) { return { pos: from + (i + 0.5) / cats.length * (to - from), label: k }; })
        .filter(function (_, i) { return i % every === 0; });
    };
    axis.condition = function (p0, p1) {
      if (numeric) {
        const a = sc.from(p0), b = sc.from(p1);
        const lo = Math.min(a, b), hi = Math.max(a, b);
        const inside = present.some(function (v) { return v >= lo && v <= hi; });
        if (!inside) return null;
        return axis.field + " >= " + Number(lo.toPrecision(6)) + " and " + axis.field + " <= " + Number(hi.toPrecision(6));
      }
      const picked = [];
      cats.forEach(function (k, i) {
        const p = from + (i + 0.5) / cats.length * (to - from);
        const lit = literal(axis.values[i]);
        if (p >= Math.min(p0, p1) && p <= Math.max(p0, p1) && lit !== null) picked.push(lit);
      });
      return picked.length ? axis.field + " in (" + picked.join(", ") + ")" : null;
    };
    return axis;
  }

  /** The x axis and log scale of a page's uPlot charts, from the address (``x=``, ``log=``). */
  function settings() {
    const query = new URLSearchParams(window.location.search);
    const x = query.get("x");
    return { x: ["step", "time", "relative"].includes(x) ? x : "step", log: query.get("log") === "1" };
  }

  /** An x axis choice and a log-scale box before ``node``; ``changed(settings)`` redraws.
   *  The choice goes into the address (other keys kept). */
  function toolbar(node, changed) {
    const now = settings();
    const bar = mlops.el("div", { class: "chart-toolbar", "data-testid": "chart-toolbar" });
    const label = mlops.el("label", {}, "X axis ");
    const select = mlops.el("select", { "data-testid": "chart-x" });
    for (const mode of ["step", "time", "relative"]) {
      select.appendChild(mlops.el("option", { value: mode, selected: mode === now.x ? "selected" : null }, xTitle(mode)));
    }
    label.appendChild(select);
    const logLabel = mlops.el("label", { class: "check" });
    const box = mlops.el("input", { type: "checkbox", "data-testid": "chart-log", checked: now.log ? "checked" : null });
    logLabel.appendChild(box);
    logLabel.appendChild(document.createTextNode(" Log scale (y)"));
    bar.appendChild(label);
    bar.appendChild(logLabel);
    node.parentNode.insertBefore(bar, node);
    function update() {
      const query = new URLSearchParams(window.location.search);
      if (select.value === "step") query.delete("x"); else query.set("x", select.value);
      if (box.checked) query.set("log", "1"); else query.delete("log");
      const text = query.toString();
      window.history.replaceState(window.history.state, "", window.location.pathname + (text ? "?" + text : ""));
      changed(settings());
    }
    select.addEventListener("change", update);
    box.addEventListener("change", update);
  }

  mlops.charts = {
    settings: settings,
    toolbar: toolbar,
    axes: axes,
    theme: theme,
    ticks: ticks,
    scale: scale,
    ema: ema,
    duration: duration,
    xTitle: xTitle,
    xLabel: xLabel,
    seconds: seconds,
    quote: quote,
    field: field,
    ramp: ramp,
    clip: clip,
    axisOf: axisOf,
    palette: palette,
    toSeries: toSeries,
    join: join,
    noteText: noteText,
    setNote: setNote,
    plot: plot,
    metricUrl: metricUrl,
    showMessage: showMessage,
    values: values,
    available: function () { return typeof window.uPlot === "function"; },
  };
})();
