// The experiment page's chart panel (issue 14): one canvas chart per chosen metric with the
// curves of the iterations in view (the table's filter and sort, top N, or the ticked rows),
// parallel coordinates and a scatter over every filtered iteration. Settings live in the
// address (charts, x, smooth, log, curves, pc, pc_metric, sx, sy); other parts' keys are kept.
"use strict";

(function () {
  const mlops = window.mlops;
  const charts = mlops.charts;
  const root = document.getElementById("workspace");
  if (!root || !charts) return;
  const experimentId = document.body.dataset.experimentId;
  const allMetrics = JSON.parse(root.dataset.metrics || "[]");
  const allParams = JSON.parse(root.dataset.params || "[]");
  const state = JSON.parse(root.dataset.state || "{}");
  const HEIGHT = 240;
  const MARGIN = { left: 64, right: 14, top: 12, bottom: 30 };
  const MAX_PC = 10000;
  let asTable = false;
  let highlighted = null; // the iteration id highlighted everywhere
  let built = []; // the line/bar charts drawn now

  // -- the address ------------------------------------------------------------------------
  function writeAddress(changes, reload) {
    const query = new URLSearchParams(window.location.search);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null || value === undefined || value === "") query.delete(key);
      else query.set(key, String(value));
    }
    const text = query.toString();
    const url = window.location.pathname + (text ? "?" + text : "");
    if (reload) window.location.assign(url);
    else window.history.replaceState(window.history.state, "", url);
  }

  // -- highlight shared with the table and the other charts ---------------------------------
  function rowOf(id) {
    return document.querySelector('tr[data-iteration-id="' + CSS.escape(id) + '"]');
  }

  function highlight(id, fromHere) {
    if (id === highlighted) return;
    if (highlighted) {
      const old = rowOf(highlighted);
      if (old) old.classList.remove("is-highlighted");
    }
    highlighted = id;
    if (id) {
      const row = rowOf(id);
      if (row) row.classList.add("is-highlighted");
    }
    for (const chart of built) if (chart.showHighlight) chart.showHighlight(id);
    if (fromHere) {
      document.dispatchEvent(
        new CustomEvent("mlops:highlight", { detail: { iteration_id: id, source: "charts" } })
      );
    }
  }

  function open(id) {
    window.location.assign("/iterations/" + encodeURIComponent(id));
  }

  // -- canvas helpers ---------------------------------------------------------------------
  function canvasIn(holder, width, height) {
    const canvas = document.createElement("canvas");
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    holder.appendChild(canvas);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { canvas: canvas, ctx: ctx, ratio: ratio };
  }

  function snapshot(surface) {
    const copy = document.createElement("canvas");
    copy.width = surface.canvas.width;
    copy.height = surface.canvas.height;
    copy.getContext("2d").drawImage(surface.canvas, 0, 0);
    return copy;
  }

  function restore(surface, copy) {
    const ctx = surface.ctx;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, surface.canvas.width, surface.canvas.height);
    ctx.drawImage(copy, 0, 0);
    ctx.restore();
  }

  function tooltip(holder) {
    const tip = mlops.el("div", { class: "ws-tooltip", role: "status", "data-testid": "ws-tooltip" });
    tip.hidden = true;
    holder.appendChild(tip);
    return {
      show: function (text, x, y) {
        tip.textContent = text;
        tip.hidden = false;
        const width = holder.clientWidth;
        tip.style.left = Math.min(Math.max(0, x + 12), Math.max(0, width - 220)) + "px";
        tip.style.top = Math.max(0, y - 34) + "px";
      },
      hide: function () { tip.hidden = true; },
    };
  }

  function axisTitles(holder, xTitle, yTitle) {
    holder.appendChild(mlops.el("div", { class: "ws-axis-title ws-x-title", "data-testid": "ws-x-title" }, xTitle));
    holder.appendChild(mlops.el("div", { class: "ws-axis-title ws-y-title", "data-testid": "ws-y-title" }, yTitle));
  }

  function drawAxes(ctx, box, xs, ys, colors) {
    ctx.save();
    ctx.font = "11px system-ui, sans-serif";
    ctx.strokeStyle = colors.grid;
    ctx.fillStyle = colors.muted;
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const tick of ys) {
      const y = Math.round(tick.pos) + 0.5;
      ctx.beginPath();
      ctx.moveTo(box.left, y);
      ctx.lineTo(box.right, y);
      ctx.stroke();
      ctx.fillText(tick.label, box.left - 6, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const tick of xs) {
      const x = Math.round(tick.pos) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, box.top);
      ctx.lineTo(x, box.bottom);
      ctx.stroke();
      ctx.fillText(tick.label, x, box.bottom + 5);
    }
    ctx.strokeStyle = colors.muted;
    ctx.strokeRect(box.left + 0.5, box.top + 0.5, box.right - box.left, box.bottom - box.top);
    ctx.restore();
  }

  // -- the iterations in view -------------------------------------------------------------
  function tickedIds() {
    return Array.from(document.querySelectorAll("#compare-form input[name=ids]:checked")).map(
      function (box) { return box.value; }
    );
  }

  function idFilter(ids) {
    return "id in (" + ids.map(charts.quote).join(", ") + ")";
  }

  async function iterationsInView(metrics) {
    const ticked = tickedIds();
    const body = {
      experiment_id: experimentId,
      filter: ticked.length ? idFilter(ticked) : root.dataset.filter || null,
      order_by: root.dataset.orderBy || null,
      limit: ticked.length ? Math.min(ticked.length, 100) : state.curves,
      parameter_names: [],
      metric_names: metrics,
      count_total: false, // the charts need the iterations, not how many match (a count of
      // up to 10,000 filtered iterations would cost more than the page itself)
    };
    const answer = await mlops.fetchJson("/api/v1/iterations/search", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const found = answer.iterations || [];
    if (ticked.length) {
      const order = new Map(ticked.map(function (id, i) { return [id, i]; }));
      found.sort(function (a, b) { return order.get(a.id) - order.get(b.id); });
    }
    return { iterations: found, ticked: ticked.length > 0 };
  }

  // -- line charts ------------------------------------------------------------------------
  function xValue(mode, step, time, start) {
    if (mode === "time") return time;
    if (mode === "relative") return time - start;
    return step;
  }

  /** A curve's drawable points: x per point, y (null: a gap), NaN and ±∞ markers. */
  function curvePoints(curve) {
    const xs = [];
    const ys = [];
    const nan = [];
    const inf = [];
    let nonPositive = 0;
    for (let i = 0; i < curve.steps.length; i++) {
      const x = xValue(state.x, curve.steps[i], curve.times[i], curve.start);
      const v = curve.values[i];
      xs.push(x);
      if (v === null || Number.isNaN(v)) {
        ys.push(null);
        nan.push(x);
      } else if (!Number.isFinite(v)) {
        ys.push(null);
        inf.push({ x: x, positive: v > 0 });
      } else if (state.log && v <= 0) {
        ys.push(null);
        nonPositive++;
      } else {
        ys.push(v);
      }
    }
    const smooth = state.smooth > 0 ? charts.ema(ys, state.smooth) : null;
    return { xs: xs, ys: ys, smooth: smooth, nan: nan, inf: inf, nonPositive: nonPositive };
  }

  function LineChart(figure, metric, curves, info) {
    this.figure = figure;
    this.metric = metric;
    this.curves = curves;
    this.info = info;
    this.hover = null;
    this.holder = figure.querySelector(".ws-plot");
  }

  LineChart.prototype.render = function () {
    const holder = this.holder;
    holder.textContent = "";
    const width = Math.max((holder.clientWidth || 0) - 18, 280);
    const surface = canvasIn(holder, width, HEIGHT);
    this.surface = surface;
    this.tip = tooltip(holder);
    const box = { left: MARGIN.left, right: width - MARGIN.right, top: MARGIN.top, bottom: HEIGHT - MARGIN.bottom };
    this.box = box;
    const colors = charts.theme();
    let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
    let nanCount = 0, infCount = 0, nonPositive = 0;
    for (const curve of this.curves) {
      curve.drawn = curvePoints(curve);
      const d = curve.drawn;
      nanCount += d.nan.length;
      infCount += d.inf.length;
      nonPositive += d.nonPositive;
      for (let i = 0; i < d.xs.length; i++) {
        if (d.xs[i] < xmin) xmin = d.xs[i];
        if (d.xs[i] > xmax) xmax = d.xs[i];
        const y = d.ys[i];
        if (y !== null) {
          if (y < ymin) ymin = y;
          if (y > ymax) ymax = y;
        }
      }
    }
    if (!Number.isFinite(xmin)) { xmin = 0; xmax = 1; }
    if (xmin === xmax) { xmin -= 1; xmax += 1; }
    const yScale = charts.scale(ymin, ymax, state.log, box.bottom, box.top);
    const xScale = charts.scale(xmin, xmax, false, box.left, box.right);
    this.xScale = xScale;
    this.yScale = yScale;
    const xTicks = charts.ticks(xmin, xmax, false, Math.max(2, Math.floor(width / 110))).map(function (t) {
      return { pos: xScale.to(t), label: charts.xLabel(state.x, t, xmax - xmin) };
    });
    const yTicks = yScale.ticks(5).map(function (t) {
      return { pos: yScale.to(t), label: mlops.fmt(t) };
    });
    const ctx = surface.ctx;
    drawAxes(ctx, box, xTicks, yTicks, colors);
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.left, box.top, box.right - box.left, box.bottom - box.top);
    ctx.clip();
    for (const curve of this.curves) {
      const d = curve.drawn;
      curve.px = new Float64Array(d.xs.length);
      curve.py = new Float64Array(d.xs.length);
      const line = d.smooth || d.ys;
      for (let i = 0; i < d.xs.length; i++) {
        curve.px[i] = xScale.to(d.xs[i]);
        curve.py[i] = line[i] === null ? NaN : yScale.to(line[i]);
      }
      if (d.smooth) {
        ctx.globalAlpha = 0.22;
        strokePath(ctx, curve.px, d.ys.map(function (v) { return v === null ? NaN : yScale.to(v); }), curve.color, 1);
        ctx.globalAlpha = 1;
      }
      strokePath(ctx, curve.px, curve.py, curve.color, this.curves.length > 30 ? 1 : 1.5);
    }
    ctx.restore();
    // NaN: a cross under the plot's floor; ±∞: a triangle at the top or bottom edge.
    for (const curve of this.curves) {
      ctx.fillStyle = curve.color;
      ctx.strokeStyle = curve.color;
      for (const x of curve.drawn.nan) marker(ctx, "nan", xScale.to(x), box.bottom - 5);
      for (const p of curve.drawn.inf) {
        marker(ctx, p.positive ? "up" : "down", xScale.to(p.x), p.positive ? box.top + 5 : box.bottom - 5);
      }
    }
    this.base = snapshot(surface);
    axisTitles(holder, charts.xTitle(state.x), this.metric + (state.log ? " (log scale)" : ""));
    const notes = [];
    if (nanCount) notes.push(nanCount + " NaN value" + (nanCount === 1 ? "" : "s") + " (× at the bottom edge)");
    if (infCount) notes.push(infCount + " infinite value" + (infCount === 1 ? "" : "s") + " (▲ ▼ at the edges)");
    if (nonPositive) notes.push(nonPositive + " value" + (nonPositive === 1 ? "" : "s") + " ≤ 0 not drawn on the log scale");
    if (this.info.missing) notes.push(this.info.missing + " iteration" + (this.info.missing === 1 ? "" : "s") + " in view without " + this.metric);
    if (this.info.downsampled) notes.push("each curve downsampled to " + this.info.maxPoints + " points (spikes kept)");
    charts.setNote(this.figure.querySelector(".chart-note"), notes, nanCount + infCount > 0);
    this.figure.dataset.nan = String(nanCount);
    this.wire();
    if (highlighted) this.showHighlight(highlighted);
  };

  function strokePath(ctx, xs, ys, color, width) {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < xs.length; i++) {
      const y = ys[i];
      if (Number.isNaN(y)) { pen = false; continue; }
      if (pen) ctx.lineTo(xs[i], y);
      else { ctx.moveTo(xs[i], y); pen = true; }
    }
    // A lone point between gaps still shows (a line of no length draws nothing).
    ctx.stroke();
    for (let i = 0; i < xs.length; i++) {
      if (!Number.isNaN(ys[i]) && (i === 0 || Number.isNaN(ys[i - 1])) && (i === xs.length - 1 || Number.isNaN(ys[i + 1]))) {
        ctx.fillStyle = color;
        ctx.fillRect(xs[i] - 1.5, ys[i] - 1.5, 3, 3);
      }
    }
  }

  function marker(ctx, kind, x, y) {
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    if (kind === "nan") {
      ctx.moveTo(x - 4, y - 4); ctx.lineTo(x + 4, y + 4);
      ctx.moveTo(x + 4, y - 4); ctx.lineTo(x - 4, y + 4);
      ctx.stroke();
      return;
    }
    const d = kind === "up" ? -1 : 1;
    ctx.moveTo(x, y + 4 * d); ctx.lineTo(x - 4, y - 4 * d); ctx.lineTo(x + 4, y - 4 * d);
    ctx.closePath();
    ctx.fill();
  }

  /** The curve and point nearest to (x, y) in pixels, within 24 px. */
  LineChart.prototype.nearest = function (x, y) {
    let best = null;
    let bestDistance = 24;
    this.curves.forEach(function (curve, index) {
      const px = curve.px;
      if (!px || !px.length) return;
      let lo = 0, hi = px.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (px[mid] < x) lo = mid + 1;
        else hi = mid;
      }
      for (let i = Math.max(0, lo - 2); i <= Math.min(px.length - 1, lo + 2); i++) {
        const py = curve.py[i];
        if (Number.isNaN(py)) continue;
        const distance = Math.hypot(px[i] - x, py - y);
        if (distance < bestDistance) {
          bestDistance = distance;
          best = { curve: index, point: i };
        }
      }
    });
    return best;
  };

  LineChart.prototype.describe = function (hit) {
    const curve = this.curves[hit.curve];
    const raw = curve.values[hit.point];
    const d = curve.drawn;
    let text = curve.name + " · step " + curve.steps[hit.point] + " · " + mlops.fmt(raw);
    if (d.smooth && d.smooth[hit.point] !== null) text += " (smoothed " + mlops.fmt(d.smooth[hit.point]) + ")";
    if (state.x === "time") text += " · " + new Date(curve.times[hit.point] * 1000).toLocaleString();
    if (state.x === "relative") text += " · " + charts.duration(curve.times[hit.point] - curve.start);
    return text;
  };

  LineChart.prototype.select = function (hit, fromHere) {
    this.hover = hit;
    if (!hit) {
      this.tip.hide();
      this.paint(null);
      if (fromHere) highlight(null, true);
      return;
    }
    const curve = this.curves[hit.curve];
    this.paint(hit);
    this.tip.show(this.describe(hit), curve.px[hit.point], curve.py[hit.point]);
    if (fromHere) highlight(curve.id, true);
  };

  LineChart.prototype.paint = function (hit) {
    restore(this.surface, this.base);
    const index = hit ? hit.curve : this.curves.findIndex(function (c) { return c.id === highlighted; });
    if (index < 0) return;
    const curve = this.curves[index];
    const ctx = this.surface.ctx;
    ctx.save();
    ctx.beginPath();
    ctx.rect(this.box.left, this.box.top, this.box.right - this.box.left, this.box.bottom - this.box.top);
    ctx.clip();
    strokePath(ctx, curve.px, curve.py, charts.theme().text, 4);
    strokePath(ctx, curve.px, curve.py, curve.color, 2.5);
    if (hit) {
      ctx.fillStyle = curve.color;
      ctx.beginPath();
      ctx.arc(curve.px[hit.point], curve.py[hit.point], 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.restore();
  };

  LineChart.prototype.showHighlight = function (id) {
    if (this.hover && this.curves[this.hover.curve].id === id) return;
    this.hover = null;
    this.tip.hide();
    this.paint(null);
    this.figure.dataset.highlighted = id || "";
  };

  LineChart.prototype.wire = function () {
    const self = this;
    const canvas = this.surface.canvas;
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "img");
    canvas.setAttribute(
      "aria-label",
      "Chart of " + this.metric + ", " + this.curves.length + " curve" + (this.curves.length === 1 ? "" : "s") +
      ". Up and down arrows pick a curve, left and right a point, Enter opens the iteration."
    );
    canvas.addEventListener("mousemove", function (event) {
      const r = canvas.getBoundingClientRect();
      self.select(self.nearest(event.clientX - r.left, event.clientY - r.top), true);
      canvas.style.cursor = self.hover ? "pointer" : "default";
    });
    canvas.addEventListener("mouseleave", function () { self.select(null, true); });
    canvas.addEventListener("click", function (event) {
      const r = canvas.getBoundingClientRect();
      const hit = self.nearest(event.clientX - r.left, event.clientY - r.top);
      if (hit) open(self.curves[hit.curve].id);
    });
    canvas.addEventListener("keydown", function (event) {
      const n = self.curves.length;
      if (!n) return;
      let hit = self.hover ? { curve: self.hover.curve, point: self.hover.point } : null;
      const lastOf = function (c) { return Math.max(0, self.curves[c].steps.length - 1); };
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        const c = hit ? (hit.curve + (event.key === "ArrowDown" ? 1 : n - 1)) % n : 0;
        hit = { curve: c, point: lastOf(c) };
      } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        if (!hit) hit = { curve: 0, point: lastOf(0) };
        else hit.point = Math.min(lastOf(hit.curve), Math.max(0, hit.point + (event.key === "ArrowRight" ? 1 : -1)));
      } else if (event.key === "Enter" && hit) {
        open(self.curves[hit.curve].id);
        return;
      } else if (event.key === "Escape") {
        hit = null;
      } else {
        return;
      }
      event.preventDefault();
      if (hit && Number.isNaN(self.curves[hit.curve].py[hit.point])) {
        self.curves[hit.curve].py[hit.point] = self.box.bottom; // a NaN point: shown on the floor
      }
      self.select(hit, true);
    });
  };

  /** Points from live.js: append after the last step, or replace the whole series. */
  LineChart.prototype.addPoints = function (detail) {
    const curve = this.curves.find(function (c) { return c.id === detail.iteration_id; });
    if (!curve) return false;
    const values = (detail.values || []).map(mlops.toNumber);
    const times = (detail.times || []).map(charts.seconds);
    if (detail.replace) {
      curve.steps = detail.steps.slice();
      curve.values = values;
      curve.times = times;
    } else {
      const last = curve.steps.length ? curve.steps[curve.steps.length - 1] : -Infinity;
      detail.steps.forEach(function (step, i) {
        if (step > last) {
          curve.steps.push(step);
          curve.values.push(values[i]);
          curve.times.push(times[i]);
        }
      });
    }
    this.render();
    this.table();
    return true;
  };

  LineChart.prototype.table = function () {
    const rows = this.curves.map(function (c) {
      const finite = c.values.filter(function (v) { return v !== null && Number.isFinite(v); });
      return [
        c.name, String(c.steps.length),
        c.steps.length ? String(c.steps[c.steps.length - 1]) : "—",
        c.values.length ? mlops.fmt(c.values[c.values.length - 1]) : "—",
        finite.length ? mlops.fmt(Math.min.apply(null, finite)) : "—",
        finite.length ? mlops.fmt(Math.max.apply(null, finite)) : "—",
      ];
    });
    fillTable(this.figure, this.metric + " by iteration",
      ["Iteration", "Points", "Last step", "Last value", "Min", "Max"], rows, this.curves.map(function (c) { return c.id; }));
  };

  // -- bar charts (a metric logged once) ----------------------------------------------------
  function BarChart(figure, metric, curves, info) {
    LineChart.call(this, figure, metric, curves, info);
  }

  BarChart.prototype.render = function () {
    const holder = this.holder;
    holder.textContent = "";
    const width = Math.max((holder.clientWidth || 0) - 18, 280);
    const surface = canvasIn(holder, width, HEIGHT);
    this.surface = surface;
    this.tip = tooltip(holder);
    const box = { left: MARGIN.left, right: width - MARGIN.right, top: MARGIN.top, bottom: HEIGHT - MARGIN.bottom };
    this.box = box;
    const colors = charts.theme();
    const values = this.curves.map(function (c) { return c.values.length ? c.values[0] : null; });
    const finite = values.filter(function (v) { return v !== null && Number.isFinite(v) && (!state.log || v > 0); });
    let lo = finite.length ? Math.min.apply(null, finite) : 0;
    let hi = finite.length ? Math.max.apply(null, finite) : 1;
    if (!state.log) { lo = Math.min(0, lo); hi = Math.max(0, hi); }
    const yScale = charts.scale(lo, hi, state.log, box.bottom, box.top);
    const yTicks = yScale.ticks(5).map(function (t) { return { pos: yScale.to(t), label: mlops.fmt(t) }; });
    drawAxes(surface.ctx, box, [], yTicks, colors);
    const n = this.curves.length;
    const slot = (box.right - box.left) / Math.max(n, 1);
    const ctx = surface.ctx;
    const base = state.log ? box.bottom : yScale.to(Math.max(lo, Math.min(0, hi)));
    let nanCount = 0;
    this.bars = [];
    this.curves.forEach(function (curve, i) {
      const x = box.left + slot * i + slot * 0.15;
      const w = Math.max(1, slot * 0.7);
      const v = values[i];
      ctx.fillStyle = curve.color;
      ctx.strokeStyle = curve.color;
      if (v === null || Number.isNaN(v)) {
        nanCount++;
        marker(ctx, "nan", x + w / 2, box.bottom - 6);
        this.bars.push({ x: x, w: w, top: box.bottom - 12, bottom: box.bottom });
        return;
      }
      if (!Number.isFinite(v)) {
        marker(ctx, v > 0 ? "up" : "down", x + w / 2, v > 0 ? box.top + 5 : box.bottom - 5);
        this.bars.push({ x: x, w: w, top: box.top, bottom: box.bottom });
        return;
      }
      const y = state.log && v <= 0 ? box.bottom : yScale.to(v);
      const top = Math.min(y, base), bottom = Math.max(y, base);
      ctx.fillRect(x, top, w, Math.max(1, bottom - top));
      this.bars.push({ x: x, w: w, top: top, bottom: bottom });
      if (slot > 40) {
        ctx.save();
        ctx.fillStyle = colors.muted;
        ctx.font = "11px system-ui, sans-serif";
        ctx.textAlign = "center";
        ctx.textBaseline = "top";
        const label = curve.name.length > slot / 7 ? curve.name.slice(0, Math.max(3, Math.floor(slot / 7) - 1)) + "…" : curve.name;
        ctx.fillText(label, x + w / 2, box.bottom + 5);
        ctx.restore();
      }
    }, this);
    this.base = snapshot(surface);
    axisTitles(holder, "Iteration (logged once, at one step)", this.metric + (state.log ? " (log scale)" : ""));
    const notes = [];
    if (nanCount) notes.push(nanCount + " NaN value" + (nanCount === 1 ? "" : "s") + " (×)");
    if (this.info.missing) notes.push(this.info.missing + " iteration" + (this.info.missing === 1 ? "" : "s") + " in view without " + this.metric);
    charts.setNote(this.figure.querySelector(".chart-note"), notes, nanCount > 0);
    this.figure.dataset.nan = String(nanCount);
    this.wireBars();
    if (highlighted) this.showHighlight(highlighted);
  };

  BarChart.prototype.nearest = function (x) {
    const index = this.bars.findIndex(function (b) { return x >= b.x - 2 && x <= b.x + b.w + 2; });
    return index < 0 ? null : { curve: index, point: 0 };
  };

  BarChart.prototype.paint = function (hit) {
    restore(this.surface, this.base);
    const index = hit ? hit.curve : this.curves.findIndex(function (c) { return c.id === highlighted; });
    if (index < 0) return;
    const bar = this.bars[index];
    const ctx = this.surface.ctx;
    ctx.strokeStyle = charts.theme().text;
    ctx.lineWidth = 2;
    ctx.strokeRect(bar.x - 1, bar.top - 1, bar.w + 2, bar.bottom - bar.top + 2);
  };

  BarChart.prototype.select = function (hit, fromHere) {
    this.hover = hit;
    this.paint(hit);
    if (!hit) {
      this.tip.hide();
      if (fromHere) highlight(null, true);
      return;
    }
    const curve = this.curves[hit.curve];
    const bar = this.bars[hit.curve];
    this.tip.show(curve.name + " · step " + curve.steps[0] + " · " + mlops.fmt(curve.values[0]), bar.x + bar.w / 2, bar.top);
    if (fromHere) highlight(curve.id, true);
  };

  BarChart.prototype.showHighlight = LineChart.prototype.showHighlight;
  BarChart.prototype.table = LineChart.prototype.table;
  BarChart.prototype.addPoints = LineChart.prototype.addPoints;

  BarChart.prototype.wireBars = function () {
    const self = this;
    const canvas = this.surface.canvas;
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "Bar chart of " + this.metric + " across " + this.curves.length +
      " iterations. Left and right arrows pick a bar, Enter opens the iteration.");
    canvas.addEventListener("mousemove", function (event) {
      const r = canvas.getBoundingClientRect();
      self.select(self.nearest(event.clientX - r.left), true);
      canvas.style.cursor = self.hover ? "pointer" : "default";
    });
    canvas.addEventListener("mouseleave", function () { self.select(null, true); });
    canvas.addEventListener("click", function (event) {
      const hit = self.nearest(event.clientX - canvas.getBoundingClientRect().left);
      if (hit) open(self.curves[hit.curve].id);
    });
    canvas.addEventListener("keydown", function (event) {
      const n = self.curves.length;
      let c = self.hover ? self.hover.curve : -1;
      if (event.key === "ArrowRight" || event.key === "ArrowDown") c = (c + 1) % n;
      else if (event.key === "ArrowLeft" || event.key === "ArrowUp") c = c < 0 ? n - 1 : (c + n - 1) % n;
      else if (event.key === "Enter" && c >= 0) { open(self.curves[c].id); return; }
      else if (event.key === "Escape") c = -1;
      else return;
      event.preventDefault();
      self.select(c < 0 ? null : { curve: c, point: 0 }, true);
    });
  };

  // -- the table alternative ----------------------------------------------------------------
  function fillTable(figure, caption, head, rows, ids) {
    let wrap = figure.querySelector(".ws-table");
    if (!wrap) {
      wrap = mlops.el("div", { class: "ws-table table-wrap" });
      figure.appendChild(wrap);
    }
    wrap.textContent = "";
    const table = mlops.el("table", { "data-testid": "ws-table" });
    table.appendChild(mlops.el("caption", { class: "sr-only" }, caption));
    const tr = mlops.el("tr");
    for (const h of head) tr.appendChild(mlops.el("th", { scope: "col" }, h));
    table.appendChild(mlops.el("thead")).appendChild(tr);
    const body = table.appendChild(mlops.el("tbody"));
    rows.forEach(function (cells, r) {
      const row = mlops.el("tr");
      cells.forEach(function (cell, i) {
        if (i === 0 && ids) {
          const th = mlops.el("th", { scope: "row" });
          th.appendChild(mlops.el("a", { href: "/iterations/" + encodeURIComponent(ids[r]) }, cell));
          row.appendChild(th);
        } else {
          row.appendChild(mlops.el("td", { class: i ? "num" : null }, cell));
        }
      });
      body.appendChild(row);
    });
    wrap.appendChild(table);
    wrap.hidden = !asTable;
  }

  function applyTableMode() {
    for (const wrap of root.querySelectorAll(".ws-table")) wrap.hidden = !asTable;
    for (const plot of root.querySelectorAll(".ws-plot")) plot.hidden = asTable;
    for (const button of root.querySelectorAll("[data-ws=as-table]")) {
      button.setAttribute("aria-pressed", asTable ? "true" : "false");
      button.textContent = asTable ? "Show as chart" : "Show as table";
    }
  }

  // -- the panel of line charts -------------------------------------------------------------
  let generation = 0;

  async function drawPanel() {
    const mine = ++generation;
    root.dataset.ready = "0";
    const holder = root.querySelector(".ws-charts");
    const source = root.querySelector("[data-testid=ws-source]");
    holder.textContent = "";
    built = [];
    if (!state.charts.length) {
      source.textContent = "Pick metrics to chart above.";
      root.dataset.ready = "1";
      return;
    }
    const figures = state.charts.map(function (metric) {
      const figure = mlops.el("figure", { class: "chart ws-chart", "data-metric": metric, "data-testid": "ws-chart" });
      figure.appendChild(mlops.el("figcaption", {}, metric));
      figure.appendChild(mlops.el("div", { class: "ws-plot loading" }));
      figure.appendChild(mlops.el("p", { class: "chart-note", hidden: "hidden" }));
      holder.appendChild(figure);
      return figure;
    });
    try {
      const view = await iterationsInView(state.charts);
      if (mine !== generation) return;
      const its = view.iterations;
      source.textContent = its.length
        ? (view.ticked ? "The " + its.length + " ticked iteration" + (its.length === 1 ? "" : "s")
          : "The first " + its.length + " iteration" + (its.length === 1 ? "" : "s") + " of the table (its filter and sort)") +
          ": hover a curve to find its row, click to open it."
        : "No iteration in view.";
      const colors = charts.palette(its.length);
      const width = Math.max(holder.querySelector(".ws-plot").clientWidth || 0, 280);
      const maxPoints = Math.max(4, Math.min(2000, Math.round(width - MARGIN.left - MARGIN.right)));
      const results = await mlops.pool(state.charts.map(function (metric) {
        return function () {
          const having = its.filter(function (it) { return it.metrics && it.metrics[metric]; });
          if (!having.length) return Promise.resolve({ series: {} });
          // in columns: no object per point (100 curves of 1,000 points each)
          const query = new URLSearchParams({ metric: metric, max_points: String(maxPoints), format: "columns" });
          for (const it of having) query.append("iteration_ids", it.id);
          return mlops.fetchJson("/api/v1/series?" + query.toString());
        };
      }), 4);
      if (mine !== generation) return;
      state.charts.forEach(function (metric, k) {
        const figure = figures[k];
        const plot = figure.querySelector(".ws-plot");
        plot.classList.remove("loading");
        const result = results[k];
        if (!result.ok) {
          charts.showMessage(plot, "Could not load " + metric + ": " + result.error.message);
          return;
        }
        const curves = [];
        let downsampled = false, single = true;
        its.forEach(function (it, i) {
          const answer = result.value.series[it.id];
          if (!answer) return;
          downsampled = downsampled || answer.downsampled;
          if (answer.total > 1) single = false;
          curves.push({
            id: it.id, name: it.name, color: colors[i],
            start: charts.seconds(it.started_at),
            steps: answer.steps || [],
            values: (answer.values || []).map(mlops.toNumber),
            times: answer.timestamps || [],
          });
        });
        const info = { missing: its.length - curves.length, downsampled: downsampled, maxPoints: maxPoints };
        figure.dataset.curves = String(curves.length);
        if (!curves.length) {
          charts.showMessage(plot, "No iteration in view logged " + metric + ".");
          return;
        }
        const chart = single ? new BarChart(figure, metric, curves, info) : new LineChart(figure, metric, curves, info);
        figure.dataset.kind = single ? "bars" : "lines";
        chart.render();
        chart.table();
        built.push(chart);
      });
      applyTableMode();
    } catch (error) {
      source.textContent = "Could not load the charts: " + error.message;
    }
    if (mine === generation) root.dataset.ready = "1";
  }

  // -- parallel coordinates and scatter -------------------------------------------------------
  async function loadPoints(parameters, metrics) {
    return mlops.fetchJson("/api/v1/experiments/" + encodeURIComponent(experimentId) + "/points", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        filter: root.dataset.filter || null,
        order_by: root.dataset.orderBy || null,
        parameters: parameters,
        metrics: metrics,
        limit: MAX_PC,
      }),
    });
  }

  function dimension(kind, name, values) {
    return charts.axisOf(kind, name, values);
  }

  let pcGeneration = 0;

  async function drawParallel() {
    const mine = ++pcGeneration;
    const box = root.querySelector("[data-testid=ws-pc-box]");
    const holder = box.querySelector(".ws-pc");
    const note = box.querySelector("[data-testid=ws-pc-note]");
    box.dataset.ready = "0";
    holder.textContent = "";
    holder.classList.add("loading");
    const params = state.pc.slice();
    const metric = state.pc_metric;
    if (!params.length && !metric) {
      charts.showMessage(holder, "Pick parameters and a metric for the axes.");
      box.dataset.ready = "1";
      return;
    }
    try {
      const data = await loadPoints(params, metric ? [metric] : []);
      if (mine !== pcGeneration) return;
      holder.classList.remove("loading");
      const dims = params.map(function (p) { return dimension("params", p, data.parameters[p]); });
      if (metric) dims.push(dimension("metrics", metric, data.metrics[metric].map(mlops.toNumber)));
      const pc = new Parallel(box, holder, note, data, dims);
      pc.render();
      box.dataset.lines = String(data.ids.length);
      note.textContent = data.ids.length.toLocaleString() + " iteration" + (data.ids.length === 1 ? "" : "s") +
        (data.more ? " (the first 10,000 of the filter)" : "") +
        ". Drag along an axis to filter the table to a range; values missing sit at the “missing” tick.";
      const rows = data.ids.slice(0, 500).map(function (id, r) {
        return [data.names[r]].concat(dims.map(function (d) { return d.text(r); }));
      });
      fillTable(box, "Parallel coordinates values", ["Iteration"].concat(dims.map(function (d) { return d.label; })), rows, data.ids);
      applyTableMode();
    } catch (error) {
      charts.showMessage(holder, "Could not load the parallel coordinates: " + error.message);
    }
    if (mine === pcGeneration) box.dataset.ready = "1";
  }

  function Parallel(box, holder, note, data, dims) {
    this.box = box;
    this.holder = holder;
    this.note = note;
    this.data = data;
    this.dims = dims;
    this.brush = null;
  }

  Parallel.prototype.render = function () {
    const width = Math.max((this.holder.clientWidth || 0) - 18, 320);
    const height = 340;
    this.holder.textContent = "";
    const surface = canvasIn(this.holder, width, height);
    this.surface = surface;
    const top = 34, bottom = height - 60, missingY = height - 30;
    const n = this.dims.length;
    const left = 70, right = width - 70;
    const step = n > 1 ? (right - left) / (n - 1) : 0;
    this.dims.forEach(function (d, i) {
      d.x = n > 1 ? left + step * i : (left + right) / 2;
      d.top = top;
      d.bottom = bottom;
      d.missingY = missingY;
      d.layout(bottom, top, false);
    });
    const ctx = surface.ctx;
    const colors = charts.theme();
    const count = this.data.ids.length;
    const metricDim = this.dims[this.dims.length - 1];
    // Lines in a few colour buckets (by the last axis), one path each: 10,000 lines stay fast.
    const buckets = 8;
    const paths = [];
    for (let b = 0; b <= buckets; b++) paths.push(new Path2D());
    const outside = new Path2D();
    const ys = new Float64Array(n);
    for (let r = 0; r < count; r++) {
      let keep = true;
      for (let i = 0; i < n; i++) {
        const d = this.dims[i];
        ys[i] = d.y(r);
        if (this.brush && this.brush.dim === i && (ys[i] < this.brush.y0 || ys[i] > this.brush.y1)) keep = false;
      }
      const t = metricDim.t(r);
      const path = !keep ? outside : t === null ? paths[buckets] : paths[Math.min(buckets - 1, Math.floor(t * buckets))];
      path.moveTo(this.dims[0].x, ys[0]);
      for (let i = 1; i < n; i++) path.lineTo(this.dims[i].x, ys[i]);
    }
    const alpha = count > 3000 ? 0.12 : count > 300 ? 0.3 : 0.7;
    ctx.lineWidth = 1;
    ctx.globalAlpha = 0.06;
    ctx.strokeStyle = colors.muted;
    ctx.stroke(outside);
    ctx.globalAlpha = alpha;
    for (let b = 0; b < buckets; b++) {
      ctx.strokeStyle = charts.ramp(b / (buckets - 1));
      ctx.stroke(paths[b]);
    }
    ctx.strokeStyle = colors.muted;
    ctx.stroke(paths[buckets]);
    ctx.globalAlpha = 1;
    // Axes, ticks, the "missing" tick and the brush.
    ctx.font = "11px system-ui, sans-serif";
    for (const [i, d] of this.dims.entries()) {
      ctx.strokeStyle = colors.text;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(d.x + 0.5, d.top);
      ctx.lineTo(d.x + 0.5, d.bottom);
      ctx.stroke();
      ctx.fillStyle = colors.text;
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      ctx.fillText(charts.clip(d.label, 18) + (d.log ? " (log)" : ""), d.x, d.top - 12);
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillStyle = colors.muted;
      for (const tick of d.ticks()) {
        ctx.fillRect(d.x - 3, tick.pos, 6, 1);
        ctx.fillText(charts.clip(tick.label, 14), d.x - 5, tick.pos);
      }
      if (d.missing) {
        ctx.fillRect(d.x - 4, d.missingY - 0.5, 8, 1.5);
        ctx.fillText("missing (" + d.missing + ")", d.x - 6, d.missingY);
      }
      if (this.brush && this.brush.dim === i) {
        ctx.fillStyle = "rgba(78, 121, 167, 0.25)";
        ctx.fillRect(d.x - 8, this.brush.y0, 16, this.brush.y1 - this.brush.y0);
        ctx.strokeStyle = "#4e79a7";
        ctx.strokeRect(d.x - 8, this.brush.y0, 16, this.brush.y1 - this.brush.y0);
      }
    }
    if (!this.wired) this.wire();
  };

  Parallel.prototype.wire = function () {
    const self = this;
    this.wired = true;
    let dragging = null;
    const point = function (event) {
      const r = self.surface.canvas.getBoundingClientRect();
      return { x: event.clientX - r.left, y: event.clientY - r.top };
    };
    this.holder.addEventListener("mousedown", function (event) {
      const p = point(event);
      const i = self.dims.findIndex(function (d) { return Math.abs(d.x - p.x) < 14 && p.y >= d.top - 12 && p.y <= d.bottom + 12; });
      if (i < 0) return;
      event.preventDefault();
      dragging = { dim: i, start: p.y };
      self.brush = { dim: i, y0: p.y, y1: p.y };
    });
    this.holder.addEventListener("mousemove", function (event) {
      if (!dragging) return;
      const d = self.dims[dragging.dim];
      const y = Math.min(d.bottom, Math.max(d.top, point(event).y));
      self.brush = { dim: dragging.dim, y0: Math.min(dragging.start, y), y1: Math.max(dragging.start, y) };
      self.render();
    });
    window.addEventListener("mouseup", function () {
      if (!dragging) return;
      dragging = null;
      const brush = self.brush;
      if (!brush || brush.y1 - brush.y0 < 3) {
        self.brush = null;
        self.render();
        return;
      }
      const condition = self.dims[brush.dim].condition(brush.y0, brush.y1);
      if (!condition) {
        self.note.textContent = "No value of " + self.dims[brush.dim].label + " in that range.";
        return;
      }
      const current = root.dataset.filter;
      const filter = current ? "(" + current + ") and " + condition : condition;
      self.note.textContent = "Filtering the table: " + filter;
      writeAddress({ filter: filter, page: null }, true);
    });
  };

  let scGeneration = 0;

  async function drawScatter() {
    const mine = ++scGeneration;
    const box = root.querySelector("[data-testid=ws-scatter-box]");
    const holder = box.querySelector(".ws-scatter");
    const note = box.querySelector("[data-testid=ws-scatter-note]");
    box.dataset.ready = "0";
    holder.textContent = "";
    if (!state.sx || !state.sy) {
      charts.showMessage(holder, "Pick what goes on each axis.");
      box.dataset.ready = "1";
      return;
    }
    holder.classList.add("loading");
    const [xKind, ...rest] = state.sx.split(".");
    const xName = rest.join(".");
    try {
      const metrics = [state.sy];
      if (xKind === "metrics" && xName !== state.sy) metrics.push(xName);
      const data = await loadPoints(xKind === "params" ? [xName] : [], metrics);
      if (mine !== scGeneration) return;
      holder.classList.remove("loading");
      const xValues = xKind === "params" ? data.parameters[xName] : data.metrics[xName].map(mlops.toNumber);
      const xd = charts.axisOf(xKind, xName, xValues);
      const yd = charts.axisOf("metrics", state.sy, data.metrics[state.sy].map(mlops.toNumber));
      const sc = new Scatter(holder, data, xd, yd, xKind === "params" ? "parameter " + xName : xName);
      sc.render();
      box.dataset.points = String(sc.drawn);
      note.textContent = sc.drawn.toLocaleString() + " iteration" + (sc.drawn === 1 ? "" : "s") + " drawn" +
        (data.ids.length - sc.drawn ? ", " + (data.ids.length - sc.drawn) + " without both values (or NaN)" : "") +
        (data.more ? " (the first 10,000 of the filter)" : "") + ". Hover a point to name it, click to open it.";
      const rows = data.ids.slice(0, 500).map(function (id, r) { return [data.names[r], xd.text(r), yd.text(r)]; });
      fillTable(box, "Scatter values", ["Iteration", xName, state.sy], rows, data.ids);
      applyTableMode();
    } catch (error) {
      charts.showMessage(holder, "Could not load the scatter: " + error.message);
    }
    if (mine === scGeneration) box.dataset.ready = "1";
  }

  function Scatter(holder, data, xd, yd, xTitle) {
    this.holder = holder;
    this.data = data;
    this.xd = xd;
    this.yd = yd;
    this.xTitle = xTitle;
  }

  Scatter.prototype.render = function () {
    const width = Math.max((this.holder.clientWidth || 0) - 18, 320);
    const height = 320;
    this.holder.textContent = "";
    const surface = canvasIn(this.holder, width, height);
    this.surface = surface;
    this.tip = tooltip(this.holder);
    const box = { left: MARGIN.left, right: width - MARGIN.right, top: MARGIN.top, bottom: height - MARGIN.bottom };
    const xd = this.xd, yd = this.yd;
    xd.layout(box.left + 8, box.right - 8, true);
    yd.layout(box.bottom - 8, box.top + 8, false);
    const colors = charts.theme();
    drawAxes(surface.ctx, box, xd.ticks(), yd.ticks(), colors);
    const ctx = surface.ctx;
    this.points = [];
    ctx.fillStyle = "#4e79a7";
    ctx.globalAlpha = this.data.ids.length > 2000 ? 0.4 : 0.8;
    for (let r = 0; r < this.data.ids.length; r++) {
      if (xd.isMissing(r) || yd.isMissing(r)) continue;
      const x = xd.y(r) + (xd.kind === "cat" ? ((r * 7919) % 13 - 6) : 0); // spread a category's points
      const y = yd.y(r);
      this.points.push({ r: r, x: x, y: y });
      ctx.beginPath();
      ctx.arc(x, y, 3, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    this.drawn = this.points.length;
    this.base = snapshot(surface);
    axisTitles(this.holder, this.xTitle + (xd.log ? " (log scale)" : ""), yd.label + (yd.log ? " (log scale)" : ""));
    this.wire();
  };

  Scatter.prototype.nearest = function (x, y) {
    let best = null, bestDistance = 10;
    for (const p of this.points) {
      const distance = Math.hypot(p.x - x, p.y - y);
      if (distance < bestDistance) { bestDistance = distance; best = p; }
    }
    return best;
  };

  Scatter.prototype.wire = function () {
    const self = this;
    const canvas = this.surface.canvas;
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "Scatter of " + this.yd.label + " against " + this.xTitle + ", " + this.drawn +
      " iterations. Left and right arrows pick a point, Enter opens the iteration.");
    let current = -1;
    const show = function (p) {
      restore(self.surface, self.base);
      if (!p) { self.tip.hide(); highlight(null, true); return; }
      const ctx = self.surface.ctx;
      ctx.strokeStyle = charts.theme().text;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(p.x, p.y, 5, 0, 2 * Math.PI);
      ctx.stroke();
      self.tip.show(self.data.names[p.r] + " · " + self.xd.text(p.r) + " · " + self.yd.text(p.r), p.x, p.y);
      highlight(self.data.ids[p.r], true);
    };
    canvas.addEventListener("mousemove", function (event) {
      const r = canvas.getBoundingClientRect();
      const p = self.nearest(event.clientX - r.left, event.clientY - r.top);
      canvas.style.cursor = p ? "pointer" : "default";
      show(p);
    });
    canvas.addEventListener("mouseleave", function () { show(null); });
    canvas.addEventListener("click", function (event) {
      const r = canvas.getBoundingClientRect();
      const p = self.nearest(event.clientX - r.left, event.clientY - r.top);
      if (p) open(self.data.ids[p.r]);
    });
    canvas.addEventListener("keydown", function (event) {
      const n = self.points.length;
      if (!n) return;
      if (event.key === "ArrowRight" || event.key === "ArrowDown") current = (current + 1) % n;
      else if (event.key === "ArrowLeft" || event.key === "ArrowUp") current = current < 0 ? n - 1 : (current + n - 1) % n;
      else if (event.key === "Enter" && current >= 0) { open(self.data.ids[self.points[current].r]); return; }
      else if (event.key === "Escape") current = -1;
      else return;
      event.preventDefault();
      show(current < 0 ? null : self.points[current]);
    });
  };

  // -- controls ---------------------------------------------------------------------------
  function wireControls() {
    const on = function (selector, type, handler) {
      for (const node of root.querySelectorAll(selector)) node.addEventListener(type, handler);
    };
    on("[data-ws=chart-metric]", "change", function () {
      state.charts = Array.from(root.querySelectorAll("[data-ws=chart-metric]:checked")).map(function (b) { return b.value; });
      writeAddress({ charts: state.charts.join(",") || "," }); // ",": none, not the default
      drawPanel();
    });
    on("[data-ws=x]", "change", function (event) {
      state.x = event.target.value;
      writeAddress({ x: state.x === "step" ? null : state.x });
      redrawCharts();
    });
    on("[data-ws=log]", "change", function (event) {
      state.log = event.target.checked;
      writeAddress({ log: state.log ? "1" : null });
      redrawCharts();
    });
    let smoothTimer = null;
    on("[data-ws=smooth]", "input", function (event) {
      state.smooth = Math.min(0.99, Math.max(0, Number(event.target.value) || 0));
      root.querySelector("[data-testid=ws-smooth-value]").textContent = String(state.smooth);
      window.clearTimeout(smoothTimer);
      smoothTimer = window.setTimeout(function () {
        writeAddress({ smooth: state.smooth ? String(state.smooth) : null });
        redrawCharts();
      }, 60);
    });
    on("[data-ws=curves]", "change", function (event) {
      state.curves = Number(event.target.value);
      writeAddress({ curves: state.curves === 10 ? null : state.curves });
      drawPanel();
    });
    on("[data-ws=as-table]", "click", function () {
      asTable = !asTable;
      applyTableMode();
    });
    on("[data-ws=pc-param]", "change", function () {
      state.pc = Array.from(root.querySelectorAll("[data-ws=pc-param]:checked")).map(function (b) { return b.value; });
      writeAddress({ pc: state.pc.join(",") || "," });
      drawParallel();
    });
    on("[data-ws=pc-metric]", "change", function (event) {
      state.pc_metric = event.target.value;
      writeAddress({ pc_metric: state.pc_metric });
      drawParallel();
    });
    on("[data-ws=sx]", "change", function (event) {
      state.sx = event.target.value;
      writeAddress({ sx: state.sx });
      drawScatter();
    });
    on("[data-ws=sy]", "change", function (event) {
      state.sy = event.target.value;
      writeAddress({ sy: state.sy });
      drawScatter();
    });
    const pcBox = root.querySelector("[data-testid=ws-pc-box]");
    pcBox.addEventListener("toggle", function () {
      if (pcBox.open && pcBox.dataset.ready === undefined) drawParallel();
    });
    const scBox = root.querySelector("[data-testid=ws-scatter-box]");
    scBox.addEventListener("toggle", function () {
      if (scBox.open && scBox.dataset.ready === undefined) drawScatter();
    });
    let tickTimer = null;
    const form = document.getElementById("compare-form");
    if (form) {
      form.addEventListener("change", function (event) {
        if (!event.target.matches("input[name=ids]")) return;
        window.clearTimeout(tickTimer);
        tickTimer = window.setTimeout(drawPanel, 250);
      });
      form.addEventListener("mouseover", function (event) {
        const row = event.target.closest("tr[data-iteration-id]");
        if (row) highlight(row.dataset.iterationId, false);
      });
      form.addEventListener("mouseleave", function () { highlight(null, false); });
    }
  }

  function redrawCharts() {
    root.dataset.ready = "0";
    for (const chart of built) chart.render();
    root.dataset.ready = "1";
  }

  // -- events from the other parts of the page ------------------------------------------------
  document.addEventListener("mlops:highlight", function (event) {
    const detail = event.detail || {};
    if (detail.source === "charts") return;
    highlight(detail.iteration_id || null, false);
  });
  document.addEventListener("mlops:points", function (event) {
    const detail = event.detail || {};
    for (const chart of built) if (chart.metric === detail.metric) chart.addPoints(detail);
  });
  document.addEventListener("mlops:view-applied", function (event) {
    const next = (event.detail || {}).state || {};
    if (next.charts !== undefined) state.charts = String(next.charts).split(",").filter(function (n) { return allMetrics.includes(n); });
    if (next.x !== undefined) state.x = ["step", "time", "relative"].includes(next.x) ? next.x : "step";
    if (next.smooth !== undefined) state.smooth = Math.min(0.99, Math.max(0, Number(next.smooth) || 0));
    if (next.log !== undefined) state.log = next.log === "1" || next.log === true;
    if (next.curves !== undefined) state.curves = Math.min(100, Math.max(1, Number(next.curves) || 10));
    for (const box of root.querySelectorAll("[data-ws=chart-metric]")) box.checked = state.charts.includes(box.value);
    drawPanel();
  });

  function start() {
    wireControls();
    drawPanel();
    if (root.querySelector("[data-testid=ws-pc-box]").open) drawParallel();
    if (root.querySelector("[data-testid=ws-scatter-box]").open) drawScatter();
    if (window.ResizeObserver) {
      let last = root.clientWidth;
      let timer = null;
      new ResizeObserver(function () {
        if (Math.abs(root.clientWidth - last) < 8) return;
        last = root.clientWidth;
        window.clearTimeout(timer);
        timer = window.setTimeout(redrawCharts, 150);
      }).observe(root);
    }
  }

  void allParams;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
