// The iteration page's description: Save sends PATCH /api/v1/iterations/{id} with
// {"description": text} ("" clears it) and says so in the form.
"use strict";

(function () {
  const mlops = window.mlops;

  function start() {
    const form = document.getElementById("description-form");
    if (!form) return;
    const message = form.querySelector(".form-message");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      button.disabled = true;
      message.className = "form-message";
      message.textContent = "Saving…";
      try {
        const saved = await mlops.fetchJson(
          "/api/v1/iterations/" + encodeURIComponent(form.dataset.iterationId),
          {
            method: "PATCH",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ description: form.elements.description.value.trim() }),
          },
        );
        form.elements.description.value = saved.description || "";
        message.textContent = saved.description ? "Saved." : "Description cleared.";
      } catch (error) {
        message.classList.add("error");
        message.textContent = "Could not save the description: " + error.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
