// Delete buttons of the project and dataset pages: a button with data-delete-url asks to
// confirm in its box first, then sends DELETE to the REST API and goes to the Trash page.
// A dataset that live iterations use answers 422: the box then offers to delete it anyway
// (?force=true).
"use strict";

(function () {
  const mlops = window.mlops;

  function start() {
    document.querySelectorAll("[data-delete]").forEach(function (box) {
      const confirmBox = box.querySelector(".delete-confirm");
      const force = box.querySelector("[data-action=force-delete]");
      const message = box.querySelector(".form-message");
      async function send(url) {
        box.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        message.className = "form-message";
        message.textContent = "Deleting " + box.dataset.name + "…";
        try {
          await mlops.fetchJson(url, { method: "DELETE" });
          window.location.assign(box.dataset.after || "/trash");
        } catch (error) {
          box.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
          message.classList.add("error");
          message.textContent = "Could not delete " + box.dataset.name + ": " + error.message;
          if (force && error.status === 422) force.hidden = false;
        }
      }
      box.addEventListener("click", function (event) {
        const button = event.target.closest("button[data-action]");
        if (!button) return;
        const action = button.dataset.action;
        if (action === "delete") confirmBox.hidden = false;
        else if (action === "cancel") confirmBox.hidden = true;
        else if (action === "confirm-delete") send(box.dataset.delete);
        else if (action === "force-delete") send(box.dataset.delete + "?force=true");
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
