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
    const infinite = [];
    let finite = 0;
    for (let i = 0; i < points.length; i++) {
      const step = Number(points[i].step);
      const value = mlops.toNumber(points[i].value);
      steps[i] = step;
      if (value === null || Number.isNaN(value)) {
        values[i] = null;
      } else if (!Number.isFinite(value)) {
        values[i] = null;
        infinite.push({ step: step, positive: value > 0 });
      } else {
        values[i] = value;
        finite++;
      }
    }
    return { steps: steps, values: values, infinite: infinite, finite: finite };
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
  function noteText(infinite, shown, total) {
    const parts = [];
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
  function plot(container, series, data, legend) {
    const colors = theme();
    const width = Math.max(container.clientWidth || 0, 240);
    const options = {
      width: width,
      height: HEIGHT,
      scales: { x: { time: false } },
      axes: [axis(colors), Object.assign(axis(colors), { size: 56 })],
      series: [{ label: "step" }].concat(series),
      legend: { show: legend !== false },
      cursor: { drag: { x: true, y: false } },
    };
    container.textContent = "";
    const chart = new uPlot(options, data, container);
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

  mlops.charts = {
    palette: palette,
    toSeries: toSeries,
    join: join,
    noteText: noteText,
    setNote: setNote,
    plot: plot,
    metricUrl: metricUrl,
    showMessage: showMessage,
    available: function () { return typeof window.uPlot === "function"; },
  };
})();
