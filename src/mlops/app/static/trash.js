// The Trash page: Restore and Purge buttons call the REST API (a write token is needed when
// the App runs with --auth); Purge asks to confirm in the row first. A restore answered 409
// (the name was taken meanwhile) opens a rename box in the row. Success reloads the page.
"use strict";

(function () {
  const mlops = window.mlops;
  const PLURAL = { project: "projects", experiment: "experiments", iteration: "iterations", dataset: "datasets" };

  function request(kind, id, verb, newName) {
    const base = "/api/v1/" + PLURAL[kind] + "/" + encodeURIComponent(id);
    if (verb === "restore") {
      const body = newName ? (kind === "dataset" ? { version: newName } : { name: newName }) : {};
      return { url: base + "/restore", body: body };
    }
    if (kind === "iteration") return { url: "/api/v1/trash/purge", body: { ids: [id] } };
    return { url: base + "/purge", body: {} };
  }

  function start() {
    const message = document.getElementById("trash-message");
    document.querySelectorAll("tr[data-kind]").forEach(function (row) {
      const confirmBox = row.querySelector(".trash-confirm");
      const renameBox = row.querySelector(".trash-rename");
      function enable(on) {
        row.querySelectorAll("button").forEach(function (b) { b.disabled = !on; });
      }
      row.addEventListener("click", async function (event) {
        const button = event.target.closest("button[data-action]");
        if (!button) return;
        const action = button.dataset.action;
        if (action === "purge") {
          confirmBox.hidden = false;
          renameBox.hidden = true;
          return;
        }
        if (action === "cancel") {
          confirmBox.hidden = true;
          renameBox.hidden = true;
          return;
        }
        const verb = action === "confirm-purge" ? "purge" : "restore";
        let newName = null;
        if (action === "restore-renamed") {
          newName = renameBox.querySelector("input").value.trim();
          if (!newName) {
            message.className = "form-message error";
            message.textContent = "Type the new name to restore " + row.dataset.name + " under.";
            return;
          }
        }
        const call = request(row.dataset.kind, row.dataset.id, verb, newName);
        enable(false);
        message.className = "form-message";
        message.textContent = (verb === "restore" ? "Restoring " : "Purging ") + row.dataset.name + "…";
        try {
          await mlops.fetchJson(call.url, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(call.body),
          });
          window.location.reload();
        } catch (error) {
          enable(true);
          message.classList.add("error");
          if (verb === "restore" && error.status === 409) {
            message.textContent = "The name of " + row.dataset.name + " is taken: " + error.message +
              " Restore it under a new name.";
            renameBox.hidden = false;
            confirmBox.hidden = true;
            renameBox.querySelector("input").focus();
            return;
          }
          message.textContent = "Could not " + verb + " " + row.dataset.name + ": " + error.message;
        }
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
