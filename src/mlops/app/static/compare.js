// The compare page: one chart per metric with one curve per iteration, a colour legend, and a
// parallel-coordinates chart (plain SVG) from the parameters that differ (numbers on a linear
// or log axis, text as categories) to a chosen metric.
"use strict";

(function () {
  const mlops = window.mlops;
  const charts = mlops.charts;
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_POINTS = 500;
  const CONCURRENT = 6;

  const holder = document.getElementById("compare-data");
  const iterations = JSON.parse(holder.dataset.iterations);
  const params = JSON.parse(holder.dataset.params);
  const colors = charts.palette(iterations.length);
  let view = charts.settings();

  function paintSwatches() {
    for (const item of document.querySelectorAll(".legend li[data-index]")) {
      item.querySelector(".swatch").style.backgroundColor = colors[Number(item.dataset.index)];
    }
    for (const swatch of document.querySelectorAll(".swatch[data-index]")) {
      swatch.style.backgroundColor = colors[Number(swatch.dataset.index)];
    }
  }

  // -- metric curves ----------------------------------------------------------------------
  async function drawCurves() {
    const figures = Array.from(document.querySelectorAll("figure.chart[data-metric]"));
    if (!figures.length) return;
    if (!charts.available()) {
      for (const f of figures) charts.showMessage(f.querySelector(".chart-plot"), "The chart library did not load.");
      return;
    }
    for (const f of figures) f.querySelector(".chart-plot").classList.add("loading");
    // One request per metric brings the series of every compared iteration that has it.
    const tasks = figures.map(function (figure) {
      const name = figure.dataset.metric;
      const query = new URLSearchParams({ metric: name, max_points: String(MAX_POINTS) });
      iterations.forEach(function (it) {
        if (Object.prototype.hasOwnProperty.call(it.metrics || {}, name)) {
          query.append("iteration_ids", it.id);
        }
      });
      return function () {
        return mlops.fetchJson("/api/v1/series?" + query.toString());
      };
    });
    const results = await mlops.pool(tasks, CONCURRENT);
    figures.forEach(function (figure, i) {
      const loaded = [];
      iterations.forEach(function (it, index) {
        const result = results[i];
        if (!result.ok) {
          if (Object.prototype.hasOwnProperty.call(it.metrics || {}, figure.dataset.metric)) {
            loaded.push({ index: index, result: result });
          }
          return;
        }
        const answer = result.value.series[it.id];
        if (answer) loaded.push({ index: index, result: { ok: true, value: answer } });
      });
      drawOne(figure, loaded);
    });
  }

  function drawOne(figure, loaded) {
    const container = figure.querySelector(".chart-plot");
    container.classList.remove("loading");
    const seriesList = [];
    const lines = [];
    let infinite = 0;
    let nanCount = 0;
    const nanAt = [];
    let downsampled = 0;
    let failed = 0;
    let finite = 0;
    for (const entry of loaded) {
      if (!entry.result.ok) {
        failed++;
        continue;
      }
      const answer = entry.result.value;
      const series = charts.toSeries(answer.points || []);
      infinite += series.infinite.length;
      finite += series.finite;
      if (answer.downsampled) downsampled++;
      const xy = charts.axes(series, view.x, view.log);
      nanCount += xy.nanAt.length;
      nanAt.push.apply(nanAt, xy.nanAt);
      seriesList.push(xy);
      lines.push({
        label: iterations[entry.index].name,
        stroke: colors[entry.index],
        width: 1.5,
      });
    }
    const notes = [];
    if (nanCount) notes.push(nanCount + " NaN value" + (nanCount === 1 ? "" : "s") + " (× on the chart)");
    if (infinite) notes.push(infinite + " infinite value" + (infinite === 1 ? "" : "s") + " not drawn");
    if (failed) notes.push(failed + " series could not be loaded");
    if (downsampled) notes.push(downsampled + " series downsampled to " + MAX_POINTS + " points (min and max kept)");
    charts.setNote(figure.querySelector(".chart-note"), notes, infinite > 0 || failed > 0 || nanCount > 0);
    if (!finite) {
      charts.showMessage(container, "No finite value to draw.");
      return;
    }
    const answers = loaded.filter((e) => e.result.ok);
    if (answers.length && answers.every((e) => e.result.value.total === 1)) {
      // logged once per iteration (a final score): a bar per iteration, not lone dots
      charts.values(container, answers.map(function (e) {
        const point = e.result.value.points[0];
        const it = iterations[e.index];
        return { label: it.name, value: mlops.toNumber(point.value), step: point.step, color: colors[e.index] };
      }));
      figure.dataset.series = String(answers.length);
      return;
    }
    const options = { x: view.x, log: view.log, yLabel: figure.dataset.metric, nanAt: nanAt };
    charts.plot(container, lines, charts.join(seriesList), false, options);
    figure.dataset.series = String(seriesList.length);
  }

  // -- parallel coordinates ---------------------------------------------------------------
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Where a number sits on a numeric axis (0 bottom, 1 top): a log axis when every value
   *  is positive and they span at least two decades (lr 0.1 / 0.01 / 0.001). */
  function numericScale(values) {
    const finite = values.filter(function (v) { return v !== null && Number.isFinite(v); });
    if (!finite.length) return null;
    const min = Math.min.apply(null, finite);
    const max = Math.max.apply(null, finite);
    const log = min > 0 && max / min >= 100;
    let low = log ? Math.log10(min) : min;
    let high = log ? Math.log10(max) : max;
    if (low === high) {
      low -= 1;
      high += 1;
    }
    return {
      kind: log ? "log" : "linear",
      ticks: [{ at: 1, label: mlops.fmt(max) }, { at: 0, label: mlops.fmt(min) }],
      at: function (v) {
        if (v === null || !Number.isFinite(v)) return null;
        const x = log ? Math.log10(v) : v;
        return (x - low) / (high - low);
      },
    };
  }

  /** A categorical axis: each distinct value (text, boolean, list) at its own evenly spaced
   *  place, in sorted order, labelled. */
  function categoricalScale(values) {
    const names = Array.from(new Set(values.filter(function (v) { return v !== null; }))).sort();
    if (!names.length) return null;
    const place = new Map();
    names.forEach(function (name, i) { place.set(name, names.length === 1 ? 0.5 : i / (names.length - 1)); });
    const shown = names.length <= 12 ? names : [names[0], names[names.length - 1]];
    return {
      kind: "categorical",
      categories: names,
      ticks: shown.map(function (name) { return { at: place.get(name), label: name }; }),
      at: function (v) { return v === null || !place.has(v) ? null : place.get(v); },
    };
  }

  function category(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  /** The axes of the parallel coordinates: parameters that differ (numeric or categorical;
   *  those all iterations share are listed as "same in all" by the page instead), then the
   *  chosen metric. */
  function parallelAxes(metric) {
    const axes = [];
    for (const p of params) {
      if (!p.axis) continue;
      if (p.axis === "numeric") {
        const values = p.values.map(function (v, i) { return p.present[i] ? mlops.toNumber(v) : null; });
        axes.push({ label: p.name, values: values, scale: numericScale(values) });
      } else {
        const values = p.values.map(function (v, i) { return p.present[i] ? category(v) : null; });
        axes.push({ label: p.name, values: values, scale: categoricalScale(values) });
      }
    }
    if (metric) {
      const values = iterations.map(function (it) {
        const has = Object.prototype.hasOwnProperty.call(it.metrics || {}, metric);
        return has ? mlops.toNumber(it.metrics[metric]) : null;
      });
      axes.push({ label: metric, metric: true, values: values, scale: numericScale(values) });
    }
    return axes.filter(function (a) { return a.scale !== null; });
  }

  function drawParallel() {
    const box = document.querySelector("[data-testid=parallel-coordinates]");
    const note = document.querySelector("[data-testid=parallel-note]");
    const select = document.getElementById("parallel-metric");
    box.textContent = "";
    const usable = parallelAxes(select ? select.value : null);
    box.dataset.axes = JSON.stringify(usable.map(function (a) {
      return { name: a.label, kind: a.scale.kind, metric: Boolean(a.metric), categories: a.scale.categories || null };
    }));
    if (usable.length < 2) {
      note.textContent = "Parallel coordinates need a parameter that differs between the iterations and a metric with finite values.";
      note.hidden = false;
      return;
    }
    note.hidden = true;
    const spacing = 130;
    const margin = { top: 34, bottom: 34, left: 60, right: 90 };
    const width = Math.max(box.clientWidth - 16, margin.left + margin.right + spacing * (usable.length - 1));
    const height = 320;
    const step = (width - margin.left - margin.right) / (usable.length - 1);
    const plotHeight = height - margin.top - margin.bottom;
    const root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height });
    root.appendChild(svg("title", {}, "Parameters that differ and " + usable[usable.length - 1].label));
    const lineLayer = svg("g", {});
    root.appendChild(lineLayer);
    usable.forEach(function (a, i) {
      const x = margin.left + i * step;
      const g = svg("g", { "data-axis": a.label, "data-kind": a.scale.kind });
      g.appendChild(svg("line", { class: "axis", x1: x, x2: x, y1: margin.top, y2: margin.top + plotHeight }));
      const kind = a.scale.kind === "log" ? " (log)" : "";
      const label = a.label + kind + (a.metric ? " ★" : "");
      g.appendChild(svg("text", { class: "axis-label", x: x, y: margin.top - 14, "text-anchor": "middle" }, label));
      for (const tick of a.scale.ticks) {
        const y = margin.top + (1 - tick.at) * plotHeight + (tick.at === 1 ? 4 : tick.at === 0 ? 0 : 3);
        const text = tick.label.length > 18 ? tick.label.slice(0, 17) + "…" : tick.label;
        const node = svg("text", { class: "axis-tick", x: x + 5, y: y }, text);
        if (text !== tick.label) node.appendChild(svg("title", {}, tick.label));
        g.appendChild(node);
      }
      root.appendChild(g);
    });
    iterations.forEach(function (it, index) {
      let d = "";
      let pen = false;
      usable.forEach(function (a, i) {
        const t = a.scale.at(a.values[index]);
        if (t === null) {
          pen = false; // a missing value is a gap, never a point in the middle of an axis
          return;
        }
        const x = margin.left + i * step;
        const y = margin.top + (1 - t) * plotHeight;
        d += (pen ? " L" : " M") + x.toFixed(1) + " " + y.toFixed(1);
        pen = true;
      });
      if (!d) return;
      const path = svg("path", { class: "line", d: d.trim(), stroke: colors[index], "data-index": index });
      path.appendChild(svg("title", {}, it.name));
      lineLayer.appendChild(path);
    });
    box.appendChild(root);
  }

  function wireLegendHighlight() {
    for (const item of document.querySelectorAll(".legend li[data-index]")) {
      const index = item.dataset.index;
      function toggle(on) {
        for (const path of document.querySelectorAll('.parallel path[data-index="' + index + '"]')) {
          path.classList.toggle("hot", on);
        }
      }
      item.addEventListener("mouseenter", function () { toggle(true); });
      item.addEventListener("mouseleave", function () { toggle(false); });
      item.addEventListener("focusin", function () { toggle(true); });
      item.addEventListener("focusout", function () { toggle(false); });
    }
  }

  function start() {
    paintSwatches();
    wireLegendHighlight();
    try {
      drawParallel();
    } catch (error) {
      const note = document.querySelector("[data-testid=parallel-note]");
      note.textContent = "Could not draw the parallel coordinates: " + error.message;
      note.hidden = false;
    }
    const select = document.getElementById("parallel-metric");
    if (select) select.addEventListener("change", drawParallel);
    const grid = document.querySelector("figure.chart[data-metric]");
    if (grid) {
      charts.toolbar(grid.parentNode, function (next) {
        view = next;
        drawCurves();
      });
    }
    drawCurves().finally(mlops.ready);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
