// The project page: its edit form (title, description, status) sends PATCH /api/v1/projects/{id} as JSON, then reloads.
"use strict";

(function () {
  const mlops = window.mlops;

  function start() {
    const form = document.getElementById("project-form");
    if (!form) return;
    const message = form.querySelector(".form-message");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const status = form.elements.status.value.trim();
      const title = form.elements.title.value.trim();
      message.className = "form-message";
      if (!title) {
        message.classList.add("error");
        message.textContent = "The title cannot be empty.";
        return;
      }
      if (!status) {
        message.classList.add("error");
        message.textContent = "The status cannot be empty.";
        return;
      }
      button.disabled = true;
      message.textContent = "Saving…";
      try {
        await mlops.fetchJson("/api/v1/projects/" + encodeURIComponent(form.dataset.projectId), {
          method: "PATCH",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({
            title: title,
            description: form.elements.description.value,
            status: status,
            archived: form.elements.archived.checked,
          }),
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
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
