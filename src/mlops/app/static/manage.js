// The "Rename, describe, move, tag" form of the iteration and experiment pages and their
// tags' remove buttons: each change is one call of the REST API on the form's data-url
// (a write token is needed), then the page reloads to show it. The form has only the
// fields its page offers: name, description (experiments), experiment_id (moving an
// iteration), tag_key + tag_value.
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

  /** The trimmed value of a field, or null when the form has no such field. */
  function value(form, name) {
    const field = form.elements.namedItem(name);
    return field ? field.value.trim() : null;
  }

  function wire(form) {
    const url = form.dataset.url;
    const message = form.querySelector(".form-message");
    const button = form.querySelector("button[type=submit]");
    const original = { name: value(form, "name"), description: value(form, "description") };

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
      const change = {};
      const name = value(form, "name");
      if (name && name !== original.name) change.name = name;
      const description = value(form, "description");
      if (description !== null && description !== original.description) {
        change.description = description; // "" clears it
      }
      const target = value(form, "experiment_id");
      const key = value(form, "tag_key");
      const steps = [];
      if (Object.keys(change).length) steps.push(() => send(url, "PATCH", change));
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

    const scope = form.closest("[data-manage]") || document;
    scope.querySelectorAll("button.tag-remove").forEach(function (remove) {
      remove.addEventListener("click", function () {
        run([() => send(url + "/tags", "PATCH", { tags: {}, delete: [remove.dataset.key] })]);
      });
    });
  }

  function start() {
    document.querySelectorAll("form.manage-form").forEach(wire);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
