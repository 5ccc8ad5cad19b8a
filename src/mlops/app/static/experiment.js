// The experiment page: remembers the chosen columns per experiment (localStorage) and turns
// the row checkboxes into a link to /compare?ids=a,b,c (2 to 50 iterations), and says when the
// table is wider than the page (a hint and a shadow at the edge that scrolls).
"use strict";

(function () {
  const mlops = window.mlops;
  const body = document.body;
  const experimentId = body.dataset.experimentId;
  const storageKey = "mlops.columns." + experimentId;

  function readChoice() {
    try {
      const raw = window.localStorage.getItem(storageKey);
      const choice = raw ? JSON.parse(raw) : null;
      if (choice && Array.isArray(choice.metrics) && Array.isArray(choice.params)) return choice;
    } catch (_) {
      // private mode or a damaged entry: no remembered choice
    }
    return null;
  }

  function saveChoice(metrics, params) {
    try {
      window.localStorage.setItem(storageKey, JSON.stringify({ metrics: metrics, params: params }));
    } catch (_) {
      // storage full or disabled: the URL still carries the choice
    }
  }

  /** Opened without column parameters and a choice is remembered: go to it. */
  function restoreColumns() {
    const query = new URLSearchParams(window.location.search);
    if (query.has("metrics") || query.has("params")) {
      saveChoice(splitList(query.getAll("metrics")), splitList(query.getAll("params")));
      return false;
    }
    const choice = readChoice();
    if (!choice) return false;
    query.set("metrics", choice.metrics.join(","));
    query.set("params", choice.params.join(","));
    window.location.replace(window.location.pathname + "?" + query.toString());
    return true;
  }

  function splitList(values) {
    const out = [];
    for (const value of values) {
      for (const part of value.split(",")) {
        const name = part.trim();
        if (name && !out.includes(name)) out.push(name);
      }
    }
    return out;
  }

  function wireColumnPicker() {
    const form = document.getElementById("column-form");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const picked = { metrics: [], params: [] };
      for (const box of form.querySelectorAll("input[type=checkbox][data-kind]:checked")) {
        picked[box.dataset.kind].push(box.value);
      }
      saveChoice(picked.metrics, picked.params);
      const query = new URLSearchParams(window.location.search);
      query.set("metrics", picked.metrics.join(","));
      query.set("params", picked.params.join(","));
      query.delete("page");
      window.location.assign(window.location.pathname + "?" + query.toString());
    });
  }

  function wireCompare() {
    const form = document.getElementById("compare-form");
    if (!form) return;
    const low = Number(form.dataset.min || 2);
    const high = Number(form.dataset.max || 50);
    const button = form.querySelector("[data-testid=compare-button]");
    const count = form.querySelector("[data-testid=selection-count]");
    if (!button || !count) return; // no rows on this page: nothing to select
    const boxes = Array.from(form.querySelectorAll("input[type=checkbox][name=ids]"));

    function selected() {
      return boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    }

    function update() {
      const n = selected().length;
      button.disabled = n < low || n > high;
      if (n === 0) count.textContent = "Select " + low + " to " + high + " iterations to compare.";
      else if (n < low) count.textContent = n + " selected: select at least " + low + ".";
      else if (n > high) count.textContent = n + " selected: at most " + high + " can be compared.";
      else count.textContent = n + " selected.";
    }

    for (const box of boxes) box.addEventListener("change", update);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const ids = selected();
      if (ids.length < low || ids.length > high) return;
      window.location.assign("/compare?ids=" + ids.map(encodeURIComponent).join(","));
    });
    update();
  }

  function wireScrollHint() {
    const wrap = document.querySelector("[data-testid=table-scroll]");
    if (!wrap) return;
    const hint = mlops.el("p", { class: "scroll-hint", "data-testid": "scroll-hint" },
      "Scroll sideways for more columns →");
    hint.hidden = true;
    wrap.before(hint);
    function update() {
      const hidden = wrap.scrollWidth - wrap.clientWidth - wrap.scrollLeft;
      const wide = wrap.scrollWidth > wrap.clientWidth + 1;
      wrap.classList.toggle("scrolls-right", hidden > 1);
      hint.hidden = !wide;
      hint.textContent = hidden > 1 ? "Scroll sideways for more columns →" : "← Scrolled to the last column";
    }
    wrap.addEventListener("scroll", update, { passive: true });
    window.addEventListener("resize", update);
    update();
  }

  function start() {
    try {
      // the last saved view used here comes first (views.js), then the remembered columns
      if (mlops.restoreView && mlops.restoreView()) return;
      if (restoreColumns()) return; // navigating to the remembered columns
      wireColumnPicker();
      wireCompare();
      wireScrollHint();
    } catch (error) {
      window.console.error(error);
    }
    mlops.ready();
  }

  // after every deferred script (views.js among them) has run
  if (document.readyState === "complete") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
