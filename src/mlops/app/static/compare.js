// The compare page: one chart per metric with one curve per iteration, a colour legend, and a
// parallel-coordinates chart (plain SVG) from the numeric parameters to a chosen metric.
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

  function scaleFor(values) {
    const finite = values.filter(function (v) { return v !== null && Number.isFinite(v); });
    if (!finite.length) return null;
    let low = Math.min.apply(null, finite);
    let high = Math.max.apply(null, finite);
    const log = low > 0 && high / low >= 1000;
    if (log) {
      low = Math.log10(low);
      high = Math.log10(high);
    }
    if (low === high) {
      low -= 1;
      high += 1;
    }
    return {
      log: log,
      min: Math.min.apply(null, finite),
      max: Math.max.apply(null, finite),
      at: function (v) {
        if (v === null || !Number.isFinite(v)) return null;
        const x = log ? Math.log10(v) : v;
        return (x - low) / (high - low);
      },
    };
  }

  function drawParallel() {
    const box = document.querySelector("[data-testid=parallel-coordinates]");
    const note = document.querySelector("[data-testid=parallel-note]");
    const select = document.getElementById("parallel-metric");
    box.textContent = "";
    const axes = params.filter(function (p) { return p.numeric; }).map(function (p) {
      return { label: p.name, values: p.values.map(function (v, i) { return p.present[i] ? mlops.toNumber(v) : null; }) };
    });
    if (select) {
      const metric = select.value;
      axes.push({
        label: metric,
        metric: true,
        values: iterations.map(function (it) {
          const has = Object.prototype.hasOwnProperty.call(it.metrics || {}, metric);
          return has ? mlops.toNumber(it.metrics[metric]) : null;
        }),
      });
    }
    const usable = axes.filter(function (a) { a.scale = scaleFor(a.values); return a.scale !== null; });
    if (usable.length < 2) {
      note.textContent = "Parallel coordinates need at least one numeric parameter and a metric with finite values.";
      note.hidden = false;
      return;
    }
    note.hidden = true;
    const spacing = 130;
    const margin = { top: 34, bottom: 34, left: 60, right: 70 };
    const width = Math.max(box.clientWidth - 16, margin.left + margin.right + spacing * (usable.length - 1));
    const height = 320;
    const step = (width - margin.left - margin.right) / (usable.length - 1);
    const plotHeight = height - margin.top - margin.bottom;
    const root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height });
    root.appendChild(svg("title", {}, "Numeric parameters and " + usable[usable.length - 1].label));
    const lineLayer = svg("g", {});
    root.appendChild(lineLayer);
    usable.forEach(function (a, i) {
      const x = margin.left + i * step;
      const g = svg("g", {});
      g.appendChild(svg("line", { class: "axis", x1: x, x2: x, y1: margin.top, y2: margin.top + plotHeight }));
      const label = a.label + (a.scale.log ? " (log)" : "") + (a.metric ? " ★" : "");
      g.appendChild(svg("text", { class: "axis-label", x: x, y: margin.top - 14, "text-anchor": "middle" }, label));
      g.appendChild(svg("text", { class: "axis-tick", x: x + 5, y: margin.top + 4 }, mlops.fmt(a.scale.max)));
      g.appendChild(svg("text", { class: "axis-tick", x: x + 5, y: margin.top + plotHeight }, mlops.fmt(a.scale.min)));
      root.appendChild(g);
    });
    iterations.forEach(function (it, index) {
      let d = "";
      let pen = false;
      usable.forEach(function (a, i) {
        const t = a.scale.at(a.values[index]);
        if (t === null) {
          pen = false;
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
