// The Trash page: Restore and Purge buttons call the REST API (a write token is needed when
// the App runs with --auth); Purge asks to confirm in the row first. Success reloads the page.
"use strict";

(function () {
  const mlops = window.mlops;

  function urlFor(kind, id, action) {
    const base = kind === "experiment" ? "/api/v1/experiments/" : "/api/v1/iterations/";
    if (action === "restore") return base + encodeURIComponent(id) + "/restore";
    if (kind === "experiment") return base + encodeURIComponent(id) + "/purge";
    return "/api/v1/trash/purge";
  }

  function start() {
    const message = document.getElementById("trash-message");
    document.querySelectorAll("tr[data-kind]").forEach(function (row) {
      const confirmBox = row.querySelector(".trash-confirm");
      row.addEventListener("click", async function (event) {
        const button = event.target.closest("button[data-action]");
        if (!button) return;
        const action = button.dataset.action;
        if (action === "purge") {
          confirmBox.hidden = false;
          return;
        }
        if (action === "cancel") {
          confirmBox.hidden = true;
          return;
        }
        const kind = row.dataset.kind;
        const id = row.dataset.id;
        const verb = action === "restore" ? "restore" : "purge";
        const body = kind === "iteration" && verb === "purge" ? { ids: [id] } : {};
        row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        message.className = "form-message";
        message.textContent = (verb === "restore" ? "Restoring " : "Purging ") + row.dataset.name + "…";
        try {
          await mlops.fetchJson(urlFor(kind, id, verb), {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: verb === "restore" ? undefined : JSON.stringify(body),
          });
          window.location.reload();
        } catch (error) {
          message.classList.add("error");
          message.textContent = "Could not " + verb + " " + row.dataset.name + ": " + error.message;
          row.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        }
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
