// The iteration page's "Rename, move, tag" form and its tags' remove buttons: each change is
// one call of the REST API (a write token is needed), then the page reloads to show it.
"use strict";

(function () {
  const mlops = window.mlops;

  function send(url, method, body) {
    return mlops.fetchJson(url, {
      method: method,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  function start() {
    const form = document.querySelector("form.manage-form");
    if (!form) return;
    const url = form.dataset.url;
    const message = form.querySelector(".form-message");
    const button = form.querySelector("button[type=submit]");
    const originalName = form.elements.name.value;

    async function run(steps) {
      button.disabled = true;
      message.className = "form-message";
      message.textContent = "Saving…";
      try {
        for (const step of steps) await step();
        message.classList.add("ok");
        message.textContent = "Saved.";
        window.location.reload();
      } catch (error) {
        message.classList.add("error");
        message.textContent = "Not saved: " + error.message;
        button.disabled = false;
      }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const name = form.elements.name.value.trim();
      const target = form.elements.experiment_id.value.trim();
      const key = form.elements.tag_key.value.trim();
      const steps = [];
      if (name && name !== originalName) steps.push(() => send(url, "PATCH", { name: name }));
      if (target) steps.push(() => send(url + "/move", "POST", { experiment_id: target }));
      if (key) {
        const tags = {};
        tags[key] = form.elements.tag_value.value;
        steps.push(() => send(url + "/tags", "PATCH", { tags: tags, delete: [] }));
      }
      if (!steps.length) {
        message.className = "form-message error";
        message.textContent = "Nothing to change.";
        return;
      }
      run(steps);
    });

    document.querySelectorAll("button.tag-remove").forEach(function (remove) {
      remove.addEventListener("click", function () {
        run([() => send(url + "/tags", "PATCH", { tags: {}, delete: [remove.dataset.key] })]);
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
