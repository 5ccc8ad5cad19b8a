// The iteration page: one chart per metric from the downsampled series of the REST API; while
// the iteration runs, charts and the metrics table refresh every 5 seconds.
"use strict";

(function () {
  const mlops = window.mlops;
  const charts = mlops.charts;
  const POLL_MS = 5000;
  const body = document.body;
  const iterationId = body.dataset.iterationId;
  const drawn = new Map();
  let view = charts.settings();

  function figures() {
    return Array.from(document.querySelectorAll("figure.chart[data-metric]"));
  }

  async function draw(figure) {
    const name = figure.dataset.metric;
    const container = figure.querySelector(".chart-plot");
    const note = figure.querySelector(".chart-note");
    try {
      const answer = await mlops.fetchJson(charts.metricUrl(iterationId, name, 1000));
      const series = charts.toSeries(answer.points || []);
      charts.setNote(
        note, charts.noteText(series.infinite, series.steps.length, answer.total, series.nan.length),
        series.infinite.length + series.nan.length > 0
      );
      container.classList.remove("loading");
      if (series.finite === 0) {
        drawn.delete(name);
        charts.showMessage(container, "No finite value to draw yet.");
        return;
      }
      if (answer.total === 1) { // logged once (a final score): the value, not a lone dot
        drawn.delete(name);
        const point = answer.points[0];
        charts.values(container, [{ label: name, value: mlops.toNumber(point.value), step: point.step }]);
        return;
      }
      const xy = charts.axes(series, view.x, view.log);
      const data = [xy.steps, xy.values];
      const existing = drawn.get(name);
      if (existing && !xy.nanAt.length) {
        existing.setData(data);
      } else {
        const line = { label: name, stroke: charts.palette(1)[0], width: 1.75 };
        const options = { x: view.x, log: view.log, yLabel: name, nanAt: xy.nanAt };
        drawn.set(name, charts.plot(container, [line], data, false, options));
      }
    } catch (error) {
      charts.showMessage(container, "Could not load this chart: " + error.message);
    }
  }

  async function drawAll() {
    if (!charts.available()) {
      for (const figure of figures()) {
        charts.showMessage(figure.querySelector(".chart-plot"), "The chart library did not load.");
      }
      return;
    }
    await Promise.all(figures().map(draw));
  }

  function updateTable(iteration) {
    const summaries = iteration.metric_summaries || {};
    for (const row of document.querySelectorAll("tr[data-metric]")) {
      const summary = summaries[row.dataset.metric];
      if (!summary) continue;
      for (const cell of row.querySelectorAll("td[data-field]")) {
        const value = summary[cell.dataset.field];
        cell.textContent = cell.dataset.field === "last_step" ? String(value) : mlops.fmt(value);
      }
    }
  }

  function sameNames(iteration) {
    const shown = figures().map(function (f) { return f.dataset.metric; }).sort();
    const now = Object.keys(iteration.metric_summaries || {}).sort();
    return shown.length === now.length && shown.every(function (n, i) { return n === now[i]; });
  }

  async function poll() {
    if (document.hidden) {
      window.setTimeout(poll, POLL_MS);
      return;
    }
    try {
      const iteration = await mlops.fetchJson(
        "/api/v1/iterations/" + encodeURIComponent(iterationId)
      );
      if (iteration.status !== "running" || !sameNames(iteration)) {
        window.location.reload(); // the run ended or logged a new metric: show it all
        return;
      }
      updateTable(iteration);
      await drawAll();
    } catch (_) {
      // the App may be restarting: try again at the next tick
    }
    window.setTimeout(poll, POLL_MS);
  }

  function start() {
    const first = document.querySelector(".charts");
    if (first && figures().length) {
      charts.toolbar(first, function (next) {
        view = next;
        drawn.clear();
        drawAll();
      });
    }
    for (const figure of figures()) figure.querySelector(".chart-plot").classList.add("loading");
    drawAll().finally(function () {
      mlops.ready();
      if (body.dataset.status === "running") window.setTimeout(poll, POLL_MS);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
