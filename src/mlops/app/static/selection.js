// The selection toolbar of the experiment page (templates/_selection.html): the rows ticked in
// the iterations table (the same checkboxes that feed Compare), or every row of the page, are
// deleted, restored (on ?deleted=1) or tagged, one REST call per row (a write token is
// needed). Then the page reloads to show the table as it is now, and says what was done and,
// row by row, what failed and why (kept in sessionStorage across the reload; the rows that
// failed are ticked again).
"use strict";

(function () {
  const mlops = window.mlops;
  const MAX_ROWS = 100;
  const CONCURRENT = 4;

  const ACTIONS = {
    delete: { verb: "Deleted", doing: "Deleting", method: "DELETE", path: "" },
    restore: { verb: "Restored", doing: "Restoring", method: "POST", path: "/restore" },
    tag: { verb: "Tagged", doing: "Tagging", method: "PATCH", path: "/tags" },
    untag: { verb: "Removed the tag from", doing: "Removing the tag from", method: "PATCH", path: "/tags" },
  };

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function start() {
    const result = document.querySelector("[data-testid=bulk-result]");
    if (!result) return;
    const storageKey = "mlops.selection." + result.dataset.experimentId;
    const bar = document.querySelector("[data-testid=selection-bar]");
    const form = document.getElementById("compare-form");
    let busy = false;

    // Rows may be redrawn by other parts of the page: always look the boxes up afresh.
    function boxes() {
      return form ? Array.from(form.querySelectorAll("input[type=checkbox][name=ids]")) : [];
    }

    function selected() {
      return boxes().filter(function (b) { return b.checked; });
    }

    function rowName(box) {
      const row = box.closest("tr");
      const link = row && row.querySelector("[data-testid=iteration-link]");
      return link ? link.textContent : box.value;
    }

    function update() {
      const all_ = boxes();
      const n = selected().length;
      count.textContent = n === 0 ? "None selected" : n + " of " + all_.length + " selected";
      all.checked = n > 0 && n === all_.length;
      all.indeterminate = n > 0 && n < all_.length;
      for (const button of buttons) button.disabled = busy || n === 0 || n > MAX_ROWS;
    }

    function show(text, failures, partial) {
      result.replaceChildren(mlops.el("p", { class: "bulk-summary", "data-testid": "bulk-summary" }, text));
      result.classList.toggle("partial", partial);
      if (failures.length) {
        const list = mlops.el("ul", { "data-testid": "bulk-failures" });
        for (const f of failures) {
          list.appendChild(mlops.el("li", { "data-testid": "bulk-failure", "data-iteration-id": f.id },
            f.name + ": " + f.message));
        }
        result.appendChild(list);
      }
      result.hidden = false;
    }

    function body(action) {
      const key = keyInput.value.trim();
      if (action === "tag") {
        const tags = {};
        tags[key] = valueInput.value;
        return { tags: tags, delete: [] };
      }
      if (action === "untag") return { tags: {}, delete: [key] };
      return null;
    }

    async function run(action) {
      const chosen = selected();
      if (!chosen.length || busy) return;
      if (chosen.length > MAX_ROWS) {
        show("Select at most " + MAX_ROWS + " rows at once.", [], true);
        return;
      }
      if ((action === "tag" || action === "untag") && !keyInput.value.trim()) {
        show("Type the tag's key first (and its value, to add it).", [], true);
        keyInput.focus();
        return;
      }
      const spec = ACTIONS[action];
      const payload = body(action);
      busy = true;
      update();
      show(spec.doing + " " + plural(chosen.length, "iteration") + "…", [], false);
      const tasks = chosen.map(function (box) {
        return function () {
          const init = { method: spec.method };
          if (payload) {
            init.headers = { "Content-Type": "application/json" };
            init.body = JSON.stringify(payload);
          }
          return mlops.fetchJson("/api/v1/iterations/" + encodeURIComponent(box.value) + spec.path, init);
        };
      });
      const outcomes = await mlops.pool(tasks, CONCURRENT);
      const failures = [];
      outcomes.forEach(function (outcome, i) {
        if (!outcome.ok) {
          failures.push({ id: chosen[i].value, name: rowName(chosen[i]), message: outcome.error.message });
        }
      });
      const done = chosen.length - failures.length;
      let text = spec.verb + " " + done + " of " + plural(chosen.length, "iteration");
      if (action === "tag" || action === "untag") text += " (tag " + keyInput.value.trim() + ")";
      if (action === "delete" && done) text += " (restore them from “Show deleted” or the Trash)";
      text += failures.length ? "; " + failures.length + " failed:" : ".";
      try {
        window.sessionStorage.setItem(storageKey, JSON.stringify({ text: text, failures: failures }));
      } catch (_) {
        // storage disabled: show the outcome without reloading, so it is not lost
        busy = false;
        show(text, failures, failures.length > 0);
        update();
        return;
      }
      window.location.reload();
    }

    /** The outcome of the action before the reload, shown once; failed rows ticked again. */
    function restoreOutcome() {
      let saved = null;
      try {
        saved = JSON.parse(window.sessionStorage.getItem(storageKey) || "null");
        window.sessionStorage.removeItem(storageKey);
      } catch (_) {
        saved = null;
      }
      if (!saved || typeof saved.text !== "string") return;
      const failures = Array.isArray(saved.failures) ? saved.failures : [];
      show(saved.text, failures, failures.length > 0);
      const failed = new Set(failures.map(function (f) { return f.id; }));
      for (const box of boxes()) {
        if (failed.has(box.value)) {
          box.checked = true;
          box.dispatchEvent(new Event("change", { bubbles: true }));
        }
      }
    }

    restoreOutcome();
    if (!bar || !form) return; // no rows on this page (all were deleted, say)
    const all = bar.querySelector("[data-testid=select-all]");
    const count = bar.querySelector("[data-testid=bulk-count]");
    const keyInput = bar.querySelector("[data-testid=bulk-tag-key]");
    const valueInput = bar.querySelector("[data-testid=bulk-tag-value]");
    const buttons = Array.from(bar.querySelectorAll("button[data-action]"));

    all.addEventListener("change", function () {
      const want = all.checked; // each box's change event updates the toolbar (and this box)
      for (const box of boxes()) {
        if (box.checked !== want) {
          box.checked = want;
          box.dispatchEvent(new Event("change", { bubbles: true })); // Compare counts too
        }
      }
      update();
    });
    form.addEventListener("change", update);
    for (const button of buttons) {
      button.addEventListener("click", function () { run(button.dataset.action); });
    }
    for (const input of [keyInput, valueInput]) {
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          run("tag");
        }
      });
    }
    update();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
