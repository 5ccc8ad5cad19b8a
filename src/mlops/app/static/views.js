// Saved views of the experiment page: a view is the page's address parameters (filter, sort,
// columns, grouping, charts, ...) saved by name in the App (POST/PATCH/DELETE
// /api/v1/experiments/{id}/views; a write token is needed). Applying one is its short URL
// /v/{short}. The last view used is remembered per experiment in this browser (localStorage)
// and restored when the page is opened without parameters (experiment.js asks restoreView()
// before it restores remembered columns).
"use strict";

(function () {
  const mlops = (window.mlops = window.mlops || {});
  /** Parameters that say where one is on the page, not what it shows: never saved. */
  const TRANSIENT = ["page", "view"];

  function menu() {
    return document.querySelector("[data-testid=views-menu]");
  }

  function storageKey(experimentId) {
    return "mlops.view." + experimentId;
  }

  function remember(experimentId, shortId) {
    try {
      if (shortId) window.localStorage.setItem(storageKey(experimentId), shortId);
      else window.localStorage.removeItem(storageKey(experimentId));
    } catch (_) {
      // storage disabled: the address still carries the view
    }
  }

  function remembered(experimentId) {
    try {
      return window.localStorage.getItem(storageKey(experimentId));
    } catch (_) {
      return null;
    }
  }

  /** The page's state as a view stores it: every address parameter but page and view. */
  function currentState() {
    const state = {};
    for (const [key, value] of new URLSearchParams(window.location.search)) {
      if (!TRANSIENT.includes(key)) state[key] = value;
    }
    return state;
  }

  function items(root) {
    return Array.from(root.querySelectorAll("[data-testid=view-item]"));
  }

  function stateOf(item) {
    try {
      return JSON.parse(item.dataset.state || "{}");
    } catch (_) {
      return {};
    }
  }

  function urlOf(state, shortId) {
    const query = new URLSearchParams(state);
    query.set("view", shortId);
    return window.location.pathname + "?" + query.toString();
  }

  /** Opened with no parameters at all and a view was used last here: show that view.
   *  Returns true when the page is being replaced. */
  mlops.restoreView = function () {
    const root = menu();
    if (!root) return false;
    const experimentId = root.dataset.experimentId;
    const query = new URLSearchParams(window.location.search);
    if (query.has("view")) {
      const current = root.dataset.currentView;
      remember(experimentId, current || null);
      if (current) {
        document.dispatchEvent(
          new CustomEvent("mlops:view-applied", { detail: { state: currentState() } })
        );
      }
      return false;
    }
    if (Array.from(query.keys()).length > 0) return false;
    const shortId = remembered(experimentId);
    if (!shortId) return false;
    const item = items(root).find(function (i) { return i.dataset.shortId === shortId; });
    if (!item) {
      remember(experimentId, null); // deleted meanwhile
      return false;
    }
    window.location.replace(urlOf(stateOf(item), shortId));
    return true;
  };

  function wire() {
    const root = menu();
    if (!root) return;
    const experimentId = root.dataset.experimentId;
    const api = "/api/v1/experiments/" + encodeURIComponent(experimentId) + "/views";
    const message = root.querySelector("[data-testid=view-message]");

    function say(text, ok) {
      message.className = "form-message " + (ok ? "ok" : "error");
      message.textContent = text;
    }

    async function send(method, url, body) {
      const init = { method: method };
      if (body !== undefined) {
        init.headers = { "Content-Type": "application/json" };
        init.body = JSON.stringify(body);
      }
      if (method === "DELETE") {
        const response = await fetch(url, Object.assign({ credentials: "same-origin" }, init));
        if (!response.ok) {
          let text = "HTTP " + response.status;
          try {
            text = (await response.json()).error.message;
          } catch (_) {
            // no JSON body
          }
          throw new Error(text);
        }
        return null;
      }
      return mlops.fetchJson(url, init);
    }

    const form = root.querySelector("[data-testid=view-save-form]");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const name = form.elements.name.value.trim();
      if (!name) {
        say("Name the view first.", false);
        form.elements.name.focus();
        return;
      }
      try {
        const state = currentState();
        const view = await send("POST", api, { name: name, state: state });
        remember(experimentId, view.short_id);
        window.location.assign(urlOf(view.state, view.short_id));
      } catch (error) {
        say("Not saved: " + error.message, false);
      }
    });

    const update = root.querySelector("[data-testid=view-update]");
    if (update) {
      update.addEventListener("click", async function () {
        const shortId = root.dataset.currentView;
        try {
          const view = await send("PATCH", api + "/" + encodeURIComponent(shortId), {
            state: currentState(),
          });
          say("View “" + view.name + "” updated.", true);
        } catch (error) {
          say("Not updated: " + error.message, false);
        }
      });
    }

    for (const item of items(root)) {
      const url = api + "/" + encodeURIComponent(item.dataset.viewId);
      item.querySelector("[data-action=rename]").addEventListener("click", async function () {
        const old = item.querySelector("[data-testid=view-apply]").textContent;
        const name = window.prompt("New name of the view “" + old + "”", old);
        if (!name || !name.trim() || name.trim() === old) return;
        try {
          await send("PATCH", url, { name: name.trim() });
          window.location.reload();
        } catch (error) {
          say("Not renamed: " + error.message, false);
        }
      });
      item.querySelector("[data-action=delete]").addEventListener("click", async function () {
        try {
          await send("DELETE", url);
          const query = new URLSearchParams(window.location.search);
          if (query.get("view") === item.dataset.shortId) {
            query.delete("view");
            remember(experimentId, null);
          }
          const rest = query.toString();
          window.location.assign(window.location.pathname + (rest ? "?" + rest : ""));
        } catch (error) {
          say("Not deleted: " + error.message, false);
        }
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
