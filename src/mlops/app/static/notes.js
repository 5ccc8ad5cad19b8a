// The notes card of a project, experiment or iteration page: PUT the Markdown as JSON to
// /api/v1/{kind}s/{id}/note (a write token is needed), then reload to show it rendered.
"use strict";

(function () {
  const mlops = window.mlops;

  function start() {
    document.querySelectorAll("form.note-form").forEach(function (form) {
      const message = form.querySelector(".form-message");
      const button = form.querySelector("button[type=submit]");
      form.addEventListener("submit", async function (event) {
        event.preventDefault();
        button.disabled = true;
        message.className = "form-message";
        message.textContent = "Saving…";
        try {
          await mlops.fetchJson(form.dataset.url, {
            method: "PUT",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ text: form.elements.text.value }),
          });
          message.classList.add("ok");
          message.textContent = "Saved.";
          window.location.reload();
        } catch (error) {
          message.classList.add("error");
          message.textContent = "Not saved: " + error.message;
          button.disabled = false;
        }
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
