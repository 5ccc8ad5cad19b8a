// Group rows of the experiment page (templates/_groups.html): the key picker writes
// ?group_by= (keeping every other address parameter), a group row expands to its iterations
// (fetched by id from the REST API), a button switches the cells (and the curves' bands)
// between mean ± std and min – max, and each chosen metric gets a chart of the groups' mean
// curves with a shaded band (into the chart panel when the page has one).
"use strict";

(function () {
  const mlops = (window.mlops = window.mlops || {});
  const PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1",
    "#edc948", "#76b7b2", "#ff9da7", "#9c755f", "#79706e",
  ];
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_CHARTS = 6;
  let panel = null;
  let showRange = false;
  const drawn = []; // {figure, series}: redrawn when the spread switches

  function color(i) {
    return i < PALETTE.length ? PALETTE[i] : "hsl(" + Math.round((i * 137.508) % 360) + ", 62%, 52%)";
  }

  function list(text) {
    try {
      const value = JSON.parse(text || "[]");
      return Array.isArray(value) ? value : [];
    } catch (_) {
      return [];
    }
  }

  function wirePicker() {
    const form = panel.querySelector("[data-testid=group-form]");
    if (!form) return;
    const input = form.querySelector("input[name=group_by]");
    for (const box of form.querySelectorAll("input[data-group-key]")) {
      box.addEventListener("change", function () {
        const keys = input.value.split(",").map((k) => k.trim()).filter(Boolean);
        const at = keys.indexOf(box.value);
        if (box.checked && at < 0) keys.push(box.value);
        if (!box.checked && at >= 0) keys.splice(at, 1);
        input.value = keys.join(", ");
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const query = new URLSearchParams(window.location.search);
      const value = input.value.trim();
      if (value) query.set("group_by", value);
      else query.delete("group_by");
      query.delete("page");
      const text = query.toString();
      window.location.assign(window.location.pathname + (text ? "?" + text : ""));
    });
  }

  function wireSpread() {
    const button = panel.querySelector("[data-testid=spread-toggle]");
    const table = panel.querySelector("[data-testid=groups-table]");
    if (!button || !table) return;
    button.addEventListener("click", function () {
      showRange = !showRange;
      table.classList.toggle("show-range", showRange);
      button.setAttribute("aria-pressed", showRange ? "true" : "false");
      button.textContent = showRange ? "Show mean ± std" : "Show min – max";
      for (const chart of drawn) draw(chart.figure, chart.metric, chart.series);
    });
  }

  function cell(tag, text, attrs) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  async function expand(row, button) {
    const open = button.getAttribute("aria-expanded") === "true";
    if (open) {
      let next = row.nextElementSibling;
      while (next && next.classList.contains("group-member")) {
        const gone = next;
        next = next.nextElementSibling;
        gone.remove();
      }
      button.setAttribute("aria-expanded", "false");
      button.textContent = "▸";
      return;
    }
    button.setAttribute("aria-expanded", "true");
    button.textContent = "▾";
    const ids = (row.dataset.ids || "").split(",").filter(Boolean);
    const metrics = list(panel.dataset.metrics);
    const query = new URLSearchParams();
    query.set("experiment_id", document.body.dataset.experimentId);
    query.set("filter", "id in (" + ids.map((id) => JSON.stringify(id)).join(", ") + ")");
    query.set("limit", String(Math.max(ids.length, 1)));
    for (const name of metrics) query.append("metric_names", name);
    let answer;
    try {
      answer = await mlops.fetchJson("/api/v1/iterations?" + query.toString());
    } catch (error) {
      const failed = cell("tr", null, { class: "group-member", "data-testid": "group-member" });
      failed.appendChild(cell("td", ""));
      failed.appendChild(cell("td", "Could not load the iterations: " + error.message,
        { colspan: String(2 + metrics.length) }));
      row.after(failed);
      return;
    }
    let at = row;
    for (const it of answer.iterations) {
      const member = cell("tr", null, {
        class: "group-member", "data-testid": "group-member", "data-iteration-id": it.id,
      });
      member.appendChild(cell("td", ""));
      const name = cell("th", null, { scope: "row" });
      const link = cell("a", it.name, { href: "/iterations/" + encodeURIComponent(it.id) });
      name.appendChild(link);
      member.appendChild(name);
      member.appendChild(cell("td", it.status, { class: "num" }));
      for (const metric of metrics) {
        const summary = it.metrics[metric];
        member.appendChild(cell("td", summary ? mlops.fmt(summary.last) : "—", { class: "num" }));
      }
      at.after(member);
      at = member;
    }
  }

  function wireRows() {
    for (const row of panel.querySelectorAll("[data-testid=group-row]")) {
      const button = row.querySelector("[data-testid=group-expand]");
      if (button) button.addEventListener("click", () => expand(row, button));
    }
  }

  // -- curves -----------------------------------------------------------------------------
  function num(value) {
    const n = mlops.toNumber ? mlops.toNumber(value) : value;
    return typeof n === "number" && Number.isFinite(n) ? n : null;
  }

  function label(curve, fields) {
    if (curve.others) return "others (" + curve.groups + " groups)";
    return fields
      .map(function (field, i) {
        const name = field.split(".").slice(1).join(".").replace(/`/g, "");
        const value = curve.missing[i] ? "(missing)" : curve.key[i];
        return name + "=" + (typeof value === "string" ? value : JSON.stringify(value));
      })
      .join(" · ");
  }

  function el(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  }

  function draw(figure, metric, series) {
    const width = 480, height = 240, left = 52, right = 12, top = 10, bottom = 34;
    const old = figure.querySelector("svg");
    if (old) old.remove();
    const svg = el("svg", {
      viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-label": "Mean " + metric + " of each group by step, with a band of " +
        (showRange ? "min to max" : "one standard deviation"),
      "data-testid": "group-curves", "data-metric": metric,
    });
    const lows = [], highs = [];
    const bands = series.curves.map(function (curve) {
      const points = [];
      curve.steps.forEach(function (step, i) {
        const mean = num(curve.mean[i]);
        if (mean === null) return;
        let low = mean, high = mean;
        if (showRange) {
          low = num(curve.min[i]) ?? mean;
          high = num(curve.max[i]) ?? mean;
        } else if (num(curve.std[i]) !== null) {
          low = mean - num(curve.std[i]);
          high = mean + num(curve.std[i]);
        }
        points.push({ step: step, mean: mean, low: low, high: high });
        lows.push(low);
        highs.push(high);
      });
      return points;
    });
    const steps = bands.flat().map((p) => p.step);
    if (!steps.length) {
      figure.querySelector("figcaption").textContent = metric + ": no points in any group";
      return;
    }
    const frame = { svg: svg, width: width, height: height, left: left, right: right, top: top, bottom: bottom };
    if (bands.every((points) => points.length <= 1)) {
      // a metric logged once (a final score): each group's mean as a bar, its spread as a whisker
      figure.querySelector("figcaption").textContent = metric + ": mean of each group (logged once)";
      svg.setAttribute("aria-label", "Mean " + metric + " of each group, with a whisker of " +
        (showRange ? "min to max" : "one standard deviation"));
      drawBars(frame, bands, series, lows, highs);
    } else {
      drawLines(frame, bands, steps, lows, highs);
    }
    figure.insertBefore(svg, figure.querySelector(".group-legend"));
    valuesTable(figure, metric, series, bands);
  }

  /** The numbers behind a group chart, as a table (shown by "Show charts as tables"): a row
   *  per step, a column per group, each cell the mean with its spread. */
  function valuesTable(figure, metric, series, bands) {
    const old = figure.querySelector(".group-values");
    if (old) old.remove();
    const box = cell("div", null, { class: "group-values", "data-testid": "group-values", tabindex: "0" });
    const table = cell("table", null);
    table.appendChild(cell("caption", metric + ": mean of each group, " +
      (showRange ? "min – max" : "± one standard deviation"), { class: "sr-only" }));
    const head = cell("tr", null);
    head.appendChild(cell("th", "step", { scope: "col" }));
    series.curves.forEach(function (curve) {
      head.appendChild(cell("th", label(curve, series.group_by), { scope: "col" }));
    });
    table.appendChild(cell("thead", null)).appendChild(head);
    const at = bands.map(function (points) { return new Map(points.map((p) => [p.step, p])); });
    const steps = Array.from(new Set(bands.flat().map((p) => p.step))).sort((a, b) => a - b);
    const body = table.appendChild(cell("tbody", null));
    for (const step of steps) {
      const row = cell("tr", null);
      row.appendChild(cell("th", String(step), { scope: "row" }));
      for (const points of at) {
        const p = points.get(step);
        const text = !p ? "" : showRange
          ? mlops.fmt(p.mean) + " (" + mlops.fmt(p.low) + " – " + mlops.fmt(p.high) + ")"
          : mlops.fmt(p.mean) + " ± " + mlops.fmt(Math.max(0, p.high - p.mean));
        row.appendChild(cell("td", text));
      }
      body.appendChild(row);
    }
    box.appendChild(table);
    figure.insertBefore(box, figure.querySelector(".group-legend"));
  }

  function wireTables() {
    const button = panel.querySelector("[data-testid=group-charts-as-table]");
    if (!button) return;
    button.addEventListener("click", function () {
      const on = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "Show tables as charts" : "Show charts as tables";
      for (const area of document.querySelectorAll(".group-charts, #chart-panel")) {
        area.classList.toggle("groups-as-table", on);
      }
    });
  }

  function yAxis(frame, y0, y1, sy) {
    const { svg, left, top, height, bottom } = frame;
    svg.appendChild(el("line", { class: "axis", x1: left, y1: top, x2: left, y2: height - bottom }));
    for (const value of [y0, (y0 + y1) / 2, y1]) {
      const text = el("text", { x: left - 4, y: sy(value) + 4, "text-anchor": "end" });
      text.textContent = mlops.fmt(Number(value.toPrecision(3)));
      svg.appendChild(text);
    }
  }

  function drawBars(frame, bands, series, lows, highs) {
    const { svg, width, height, left, right, top, bottom } = frame;
    let y0 = Math.min(0, ...lows), y1 = Math.max(0, ...highs);
    if (y0 === y1) y1 = y0 + 1;
    const sy = (v) => top + (1 - (v - y0) / (y1 - y0)) * (height - top - bottom);
    yAxis(frame, y0, y1, sy);
    svg.appendChild(el("line", { class: "axis", x1: left, y1: sy(0), x2: width - right, y2: sy(0) }));
    const slot = (width - left - right) / bands.length;
    bands.forEach(function (points, i) {
      if (!points.length) return;
      const p = points[0], x = left + slot * i + slot * 0.15, w = slot * 0.7;
      const colour = color(i);
      svg.appendChild(el("rect", {
        x: x.toFixed(1), y: Math.min(sy(p.mean), sy(0)).toFixed(1), width: w.toFixed(1),
        height: Math.abs(sy(0) - sy(p.mean)).toFixed(1), fill: colour, "fill-opacity": 0.85,
        "data-testid": "group-bar",
      }));
      const mid = x + w / 2;
      svg.appendChild(el("path", {
        d: "M" + mid.toFixed(1) + " " + sy(p.low).toFixed(1) + " L" + mid.toFixed(1) + " " +
          sy(p.high).toFixed(1) + " M" + (mid - 5).toFixed(1) + " " + sy(p.low).toFixed(1) +
          " h10 M" + (mid - 5).toFixed(1) + " " + sy(p.high).toFixed(1) + " h10",
        stroke: "currentColor", "stroke-width": 1.5, fill: "none", "data-testid": "group-whisker",
      }));
      const name = el("text", { x: mid.toFixed(1), y: height - bottom + 14, "text-anchor": "middle" });
      const text = label(series.curves[i], series.group_by);
      name.textContent = text.length > 16 ? text.slice(0, 15) + "…" : text;
      const full = el("title", {});
      full.textContent = text + ": " + mlops.fmt(p.mean);
      name.appendChild(full);
      svg.appendChild(name);
    });
  }

  function drawLines(frame, bands, steps, lows, highs) {
    const { svg, width, height, left, right, top, bottom } = frame;
    let x0 = Math.min(...steps), x1 = Math.max(...steps);
    let y0 = Math.min(...lows), y1 = Math.max(...highs);
    if (x0 === x1) x1 = x0 + 1;
    if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
    const sx = (s) => left + ((s - x0) / (x1 - x0)) * (width - left - right);
    const sy = (v) => top + (1 - (v - y0) / (y1 - y0)) * (height - top - bottom);
    svg.appendChild(el("line", { class: "axis", x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }));
    yAxis(frame, y0, y1, sy);
    for (const step of [x0, x1]) {
      const text = el("text", { x: sx(step), y: height - bottom + 14, "text-anchor": "middle" });
      text.textContent = String(step);
      svg.appendChild(text);
    }
    const title = el("text", { x: (left + width - right) / 2, y: height - 4, "text-anchor": "middle" });
    title.textContent = "step";
    svg.appendChild(title);
    bands.forEach(function (points, i) {
      if (!points.length) return;
      const colour = color(i);
      if (points.length === 1) { // one step only: a dot with its spread, not an invisible line
        const p = points[0];
        svg.appendChild(el("path", {
          d: "M" + sx(p.step).toFixed(1) + " " + sy(p.low).toFixed(1) + " V" + sy(p.high).toFixed(1),
          stroke: colour, "stroke-width": 1.5, "data-testid": "group-band",
        }));
        svg.appendChild(el("circle", {
          cx: sx(p.step).toFixed(1), cy: sy(p.mean).toFixed(1), r: 4, fill: colour,
          "data-testid": "group-mean",
        }));
        return;
      }
      const upper = points.map((p) => sx(p.step).toFixed(1) + "," + sy(p.high).toFixed(1));
      const lower = points.slice().reverse().map((p) => sx(p.step).toFixed(1) + "," + sy(p.low).toFixed(1));
      svg.appendChild(el("polygon", {
        points: upper.concat(lower).join(" "), fill: colour, "fill-opacity": 0.18, stroke: "none",
        "data-testid": "group-band",
      }));
      const line = points.map((p, k) => (k ? "L" : "M") + sx(p.step).toFixed(1) + " " + sy(p.mean).toFixed(1));
      svg.appendChild(el("path", {
        d: line.join(" "), fill: "none", stroke: colour, "stroke-width": 2,
        "data-testid": "group-mean",
      }));
    });
  }

  async function chart(target, metric, before) {
    const query = new URLSearchParams();
    query.set("group_by", panel.dataset.groupBy);
    query.set("name", metric);
    if (panel.dataset.filter) query.set("filter", panel.dataset.filter);
    if (panel.dataset.groupOrder) query.set("order", panel.dataset.groupOrder);
    query.set("limit", "10");
    query.set("max_points", "300");
    const experiment = encodeURIComponent(document.body.dataset.experimentId);
    const figure = document.createElement("figure");
    figure.className = "group-chart";
    figure.dataset.testid = "group-chart";
    figure.setAttribute("data-testid", "group-chart");
    figure.appendChild(cell("figcaption", metric + ": mean of each group"));
    if (before) before.after(figure);
    else target.appendChild(figure);
    let series;
    try {
      series = await mlops.fetchJson(
        "/api/v1/experiments/" + experiment + "/groups/series?" + query.toString());
    } catch (error) {
      figure.appendChild(cell("p", "Could not load the curves: " + error.message, { class: "muted" }));
      return;
    }
    if (!series.curves.length) {
      figure.appendChild(cell("p", "No group has a series of " + metric + ".", { class: "muted small" }));
      return;
    }
    const legend = cell("div", null, { class: "group-legend" });
    series.curves.forEach(function (curve, i) {
      const item = cell("span", null);
      const swatch = cell("span", "", { class: "swatch" });
      swatch.style.background = color(i); // CSSOM: the CSP blocks style attributes
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(label(curve, series.group_by)));
      legend.appendChild(item);
    });
    figure.appendChild(legend);
    drawn.push({ figure: figure, metric: metric, series: series });
    draw(figure, metric, series);
  }

  function drawCurves() {
    const chartPanel = document.getElementById("chart-panel");
    if (chartPanel && chartPanel.querySelector("[data-metric]")) {
      for (const node of chartPanel.querySelectorAll("[data-metric]")) {
        if (node.closest(".group-chart")) continue;
        chart(chartPanel, node.dataset.metric, node);
      }
      return;
    }
    const area = panel.querySelector("#group-charts");
    if (!area) return;
    for (const metric of list(panel.dataset.metrics).slice(0, MAX_CHARTS)) chart(area, metric, null);
  }

  document.addEventListener("DOMContentLoaded", function () {
    panel = document.getElementById("groups-panel");
    if (!panel) return;
    wirePicker();
    if (panel.dataset.active !== "1") return;
    wireSpread();
    wireTables();
    wireRows();
    drawCurves();
  });
})();
