// Helpers every page shares (no framework, no build step). Everything that shows data builds
// DOM nodes with textContent: nothing from the server is ever parsed as HTML.
"use strict";

(function () {
  const mlops = (window.mlops = window.mlops || {});

  /** Tell tests (and anyone waiting) that the page has finished drawing. */
  mlops.ready = function () {
    document.body.dataset.ready = "1";
  };

  /** A new element with attributes and text (never HTML). */
  mlops.el = function (tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  /** fetch() returning parsed JSON; a non-2xx answer throws an Error with the API's message. */
  mlops.fetchJson = async function (url, options) {
    const init = Object.assign({ credentials: "same-origin" }, options || {});
    init.headers = Object.assign({ Accept: "application/json" }, init.headers || {});
    const response = await fetch(url, init);
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const message =
        body && body.error && body.error.message
          ? body.error.message
          : "HTTP " + response.status + " " + response.statusText;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return body;
  };

  /** A number from the API: finite numbers as they are; "NaN", "Infinity", "-Infinity" kept
   *  as strings by the JSON encoding are returned as NaN / ±Infinity. */
  mlops.toNumber = function (value) {
    if (typeof value === "number") return value;
    if (value === "NaN") return NaN;
    if (value === "Infinity") return Infinity;
    if (value === "-Infinity") return -Infinity;
    if (value === null || value === undefined || typeof value === "boolean") return null;
    const parsed = Number(value);
    return Number.isNaN(parsed) ? null : parsed;
  };

  /** A number for display, like the server's tables (6 significant digits). */
  mlops.fmt = function (value) {
    const number = mlops.toNumber(value);
    if (number === null) return "—";
    if (Number.isNaN(number)) return "NaN";
    if (number === Infinity) return "∞";
    if (number === -Infinity) return "−∞";
    if (Number.isInteger(number) && Math.abs(number) < 1e15) return String(number);
    const abs = Math.abs(number);
    if (abs !== 0 && (abs < 1e-4 || abs >= 1e6)) return number.toExponential(5).replace(/\.?0+e/, "e");
    return String(Number(number.toPrecision(6)));
  };

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  /** Show <time datetime="..."> in the visitor's time zone (the server writes UTC). */
  mlops.localTimes = function (root) {
    for (const node of (root || document).querySelectorAll("time[datetime]")) {
      const moment = new Date(node.getAttribute("datetime"));
      if (Number.isNaN(moment.getTime())) continue;
      node.title = node.getAttribute("datetime");
      node.textContent =
        moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" + pad(moment.getDate()) +
        " " + pad(moment.getHours()) + ":" + pad(moment.getMinutes()) + ":" + pad(moment.getSeconds());
    }
  };

  /** Run ``tasks`` (functions returning promises) with at most ``limit`` at once. */
  mlops.pool = async function (tasks, limit) {
    const results = new Array(tasks.length);
    let next = 0;
    async function worker() {
      while (next < tasks.length) {
        const index = next++;
        try {
          results[index] = { ok: true, value: await tasks[index]() };
        } catch (error) {
          results[index] = { ok: false, error: error };
        }
      }
    }
    const workers = [];
    for (let i = 0; i < Math.min(limit, tasks.length); i++) workers.push(worker());
    await Promise.all(workers);
    return results;
  };

  document.addEventListener("DOMContentLoaded", function () {
    mlops.localTimes(document);
    if (!document.body.dataset.async) mlops.ready();
  });
})();
