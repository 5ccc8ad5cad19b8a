// Live updates of the experiment page while iterations run: every few seconds one request
// (GET /api/v1/experiments/{id}/live?ids=...) tells, for the running rows, their status and
// per metric the last value, last step and change marker (rewrites). The table's status,
// metric and duration cells follow; the charts get only the points after the last step they
// have (GET /api/v1/series?after_step=), or the whole series again when its marker changed
// (an earlier step was replaced), as `mlops:points` events (steps, values and times in epoch
// seconds, read in columns), every followed metric at once. Polling stops when nothing runs.
"use strict";

(function () {
  const mlops = (window.mlops = window.mlops || {});
  const INTERVAL_MS = 2500;
  const MAX_POINTS = 1000;

  function start() {
    const status = document.querySelector("[data-testid=live-status]");
    const table = document.querySelector("[data-testid=iterations-table]");
    if (!status || !table) return;
    const experimentId = status.dataset.experimentId;
    const headers = Array.from(table.querySelectorAll("thead th"));
    const columnIndex = {};
    headers.forEach(function (th, index) {
      if (th.dataset.column) columnIndex[th.dataset.column] = index;
    });
    const rows = {};
    for (const row of table.querySelectorAll("tbody tr[data-iteration-id]")) {
      const badge = row.querySelector(".badge");
      if (badge && badge.textContent.trim() === "running") rows[row.dataset.iterationId] = row;
    }
    const running = new Set(Object.keys(rows));
    if (running.size === 0) return;

    /** Metrics whose series are followed: the charts' (charts=) or the table's metric columns. */
    function followedMetrics() {
      const query = new URLSearchParams(window.location.search);
      const charts = (query.get("charts") || "").split(",").map(function (s) { return s.trim(); });
      const picked = charts.filter(Boolean);
      if (picked.length) return picked;
      return Object.keys(columnIndex)
        .filter(function (k) { return k.startsWith("metrics."); })
        .map(function (k) { return k.slice("metrics.".length); });
    }

    const known = {}; // iteration id -> metric -> {step, rewrites}
    let clockOffset = 0; // server clock minus this browser's, in seconds
    const started = {};
    let timer = null;
    let ticks = 0;

    function cell(row, key) {
      const index = columnIndex[key];
      return index === undefined ? null : row.children[index];
    }

    function showElapsed() {
      const now = Date.now() / 1000 + clockOffset;
      for (const id of running) {
        const td = cell(rows[id], "duration");
        if (td && started[id] !== undefined) {
          td.textContent = humanDuration(now - started[id]);
          td.dataset.elapsed = "1";
        }
      }
    }

    function humanDuration(seconds) {
      const s = Math.max(0, seconds);
      if (s < 60) return s.toFixed(0) + " s";
      const total = Math.round(s);
      if (total < 3600) {
        const secs = total % 60;
        return Math.floor(total / 60) + " min" + (secs ? " " + secs + " s" : "");
      }
      const hours = Math.floor(total / 3600);
      const minutes = Math.floor((total % 3600) / 60);
      return hours + " h" + (minutes ? " " + minutes + " min" : "");
    }

    function markLive(row, live, step) {
      const td = cell(row, "status");
      if (!td) return;
      let mark = td.querySelector("[data-testid=live-indicator]");
      if (!live) {
        if (mark) mark.remove();
        return;
      }
      if (!mark) {
        mark = mlops.el("span", { class: "live-mark", "data-testid": "live-indicator" });
        td.appendChild(document.createTextNode(" "));
        td.appendChild(mark);
      }
      mark.textContent = step === null ? "live" : "live · step " + step;
    }

    function setStatus(row, value) {
      const badge = row.querySelector(".badge");
      if (!badge || badge.textContent.trim() === value) return;
      badge.textContent = value;
      badge.className = "badge status-" + value;
    }

    /** A series of the /series answer (in columns) as an `mlops:points` event. */
    function emitPoints(iterationId, metric, series, from, replace) {
      const detail = { iteration_id: iterationId, metric: metric, replace: replace,
                       steps: series.steps.slice(from), values: series.values.slice(from).map(mlops.toNumber),
                       times: series.timestamps.slice(from) };
      document.dispatchEvent(new CustomEvent("mlops:points", { detail: detail }));
    }

    async function fetchSeries(metric, ids, afterStep) {
      // in columns: no object per point to build on the server or here
      const query = new URLSearchParams({ metric: metric, max_points: String(MAX_POINTS), format: "columns" });
      for (const id of ids) query.append("iteration_ids", id);
      if (afterStep !== null) query.set("after_step", String(afterStep));
      return mlops.fetchJson("/api/v1/series?" + query.toString());
    }

    /** The points of one metric that changed since the last tick: its grown series after the
     * step they had, its rewritten or new ones whole. */
    async function followMetric(metric, states) {
      const grow = [];
      const refetch = [];
      for (const state of states) {
        const series = state.metrics[metric];
        if (!series) continue;
        known[state.id] = known[state.id] || {};
        const had = known[state.id][metric];
        if (!had) { // first sight: the charts drew the series when the page loaded
          known[state.id][metric] = { step: series.last_step, rewrites: series.rewrites };
          if (ticks > 0) refetch.push(state.id); // a series that began after the page loaded
        } else if (had.rewrites !== series.rewrites) {
          refetch.push(state.id);
        } else if (series.last_step > had.step) {
          grow.push(state.id);
        }
        known[state.id][metric].rewrites = series.rewrites;
      }
      for (let i = 0; i < refetch.length; i += 50) {
        const answer = await fetchSeries(metric, refetch.slice(i, i + 50), null);
        for (const [id, series] of Object.entries(answer.series)) {
          if (series.steps.length) known[id][metric].step = series.steps[series.steps.length - 1];
          emitPoints(id, metric, series, 0, true);
        }
      }
      for (let i = 0; i < grow.length; i += 50) {
        const chunk = grow.slice(i, i + 50);
        const after = Math.min.apply(null, chunk.map(function (id) { return known[id][metric].step; }));
        const answer = await fetchSeries(metric, chunk, after);
        for (const [id, series] of Object.entries(answer.series)) {
          const from = series.steps.findIndex(function (step) { return step > known[id][metric].step; });
          if (from < 0) continue;
          known[id][metric].step = series.steps[series.steps.length - 1];
          emitPoints(id, metric, series, from, false);
        }
      }
    }

    /** Every followed metric at once (each metric's requests touch only its own steps). */
    async function follow(states) {
      await Promise.all(followedMetrics().map(function (metric) { return followMetric(metric, states); }));
    }

    async function tick() {
      timer = null;
      const ids = Array.from(running);
      try {
        const answer = await mlops.fetchJson(
          "/api/v1/experiments/" + encodeURIComponent(experimentId) + "/live?ids=" +
            ids.map(encodeURIComponent).join(",")
        );
        clockOffset = answer.now - Date.now() / 1000;
        if (status.textContent.startsWith("Live updates paused")) status.textContent = "";
        const updated = [];
        for (const state of answer.iterations) {
          const row = rows[state.id];
          started[state.id] = state.started_at;
          setStatus(row, state.status);
          let step = null;
          for (const [metric, series] of Object.entries(state.metrics)) {
            const td = cell(row, "metrics." + metric);
            if (td) td.textContent = mlops.fmt(series.last);
            step = step === null ? series.last_step : Math.max(step, series.last_step);
          }
          const live = state.status === "running";
          markLive(row, live, step);
          if (!live) {
            running.delete(state.id);
            const td = cell(row, "duration");
            if (td && state.ended_at !== null) td.textContent = humanDuration(state.ended_at - state.started_at);
          }
          updated.push(Object.assign({}, state));
        }
        const seen = new Set(answer.iterations.map(function (s) { return s.id; }));
        for (const id of ids) if (!seen.has(id)) running.delete(id); // deleted or moved
        await follow(answer.iterations);
        document.dispatchEvent(new CustomEvent("mlops:rows-updated", { detail: { iterations: updated } }));
        ticks += 1;
        status.dataset.ticks = String(ticks);
      } catch (error) {
        status.textContent = "Live updates paused: " + error.message;
      }
      showElapsed();
      if (running.size === 0) {
        status.textContent = "Live updates stopped: no iteration of this page is running.";
        status.dataset.live = "stopped";
        return;
      }
      status.dataset.live = "on";
      if (!status.textContent.startsWith("Live updates paused")) {
        status.textContent = running.size + " running: live updates every " + INTERVAL_MS / 1000 + " s.";
      }
      timer = window.setTimeout(tick, INTERVAL_MS);
    }

    window.setInterval(function () { if (running.size) showElapsed(); }, 1000);
    mlops.live = { stop: function () { if (timer) window.clearTimeout(timer); running.clear(); } };
    tick();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
