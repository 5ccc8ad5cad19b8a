// Iterations started since the experiment page was opened: the page asks whether any that
// match its filter have started (one capped count, POST /api/v1/iterations/search with
// limit 1) at each live tick (live.js's mlops:rows-updated, at most every 10 s), for a minute
// after the last tick (a sweep starting its next run), and when the tab comes back into view.
// A notice then offers to show them (the same page, loaded again). Nothing is asked while
// nothing runs and the tab stays in view.
"use strict";

(function () {
  const mlops = (window.mlops = window.mlops || {});
  const EVERY_MS = 10000;
  const AFTER_LIVE_MS = 60000;

  function start() {
    const status = document.querySelector("[data-testid=live-status]");
    const notice = document.querySelector("[data-testid=new-iterations]");
    if (!status || !notice || !status.dataset.openedAt) return;
    const since = 'started_at > "' + status.dataset.openedAt + '"';
    const filter = status.dataset.filter ? "(" + status.dataset.filter + ") and " + since : since;
    let asked = 0;
    let lastTick = 0;
    let pending = false;

    async function check(force) {
      if (pending || (!force && Date.now() - asked < EVERY_MS)) return;
      pending = true;
      asked = Date.now();
      try {
        const answer = await mlops.fetchJson("/api/v1/iterations/search", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({
            experiment_id: status.dataset.experimentId, filter: filter, limit: 1,
            parameter_names: [], metric_names: [],
          }),
        });
        show(answer.total, answer.total_exact);
      } catch (_) {
        // the App may be restarting: the next tick asks again
      } finally {
        pending = false;
      }
    }

    function show(count, exact) {
      if (!count) return;
      notice.textContent = "";
      const many = count === 1 ? "1 new iteration" : count.toLocaleString() + (exact ? "" : "+") + " new iterations";
      notice.appendChild(document.createTextNode(many + " started since this page was opened. "));
      const link = mlops.el("a", { href: window.location.href, "data-testid": "show-new-iterations" }, "Show them");
      notice.appendChild(link);
      notice.hidden = false;
    }

    document.addEventListener("mlops:rows-updated", function () {
      lastTick = Date.now();
      check(false);
    });
    window.setInterval(function () {
      if (lastTick && Date.now() - lastTick < AFTER_LIVE_MS && !document.hidden) check(false);
    }, EVERY_MS);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) check(true);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
