// The notes card of a project, experiment or iteration page: PUT the Markdown as JSON to
// /api/v1/{kind}s/{id}/note (a write token is needed), then reload to show it rendered.
// While editing, a Preview pane shows the text as the server's Markdown
// renderer (POST /api/v1/notes/preview) will show it once saved, refreshed as one types.
"use strict";

(function () {
  const mlops = window.mlops;
  const PREVIEW_URL = "/api/v1/notes/preview";
  const DEBOUNCE_MS = 300;

  /** A "Preview" toggle below the textarea and the preview pane below it; while the pane
   *  is open it follows the text (debounced). */
  function addPreview(form) {
    const textarea = form.elements.text;
    const field = textarea.closest(".field") || textarea;
    const toggle = mlops.el("button", {
      type: "button", class: "button-quiet note-preview-toggle", "aria-pressed": "false",
      "data-testid": "note-preview-toggle",
    }, "Preview");
    const pane = mlops.el("div", {
      class: "note-body note-preview", "aria-live": "polite",
      "aria-label": "Preview of the note", "data-testid": "note-preview",
    });
    pane.id = "note-preview-" + Math.random().toString(36).slice(2);
    toggle.setAttribute("aria-controls", pane.id);
    pane.hidden = true;
    field.after(toggle, pane);

    let timer = null;
    let asked = 0; // answers to older requests than the last are dropped

    async function refresh() {
      const mine = ++asked;
      pane.setAttribute("aria-busy", "true");
      try {
        const answer = await mlops.fetchJson(PREVIEW_URL, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ text: textarea.value }),
        });
        if (mine !== asked) return;
        if (!textarea.value.trim()) {
          pane.replaceChildren(mlops.el("p", { class: "muted" }, "Nothing to preview yet."));
        } else {
          // The server's note renderer (raw HTML escaped, unsafe links dropped): the same
          // markup the page shows once the note is saved, so it may be inserted as HTML.
          pane.innerHTML = answer.html;
        }
        pane.dataset.rendered = String(mine);
      } catch (error) {
        if (mine !== asked) return;
        pane.replaceChildren(
          mlops.el("p", { class: "form-message error" }, "No preview: " + error.message)
        );
      } finally {
        if (mine === asked) pane.removeAttribute("aria-busy");
      }
    }

    toggle.addEventListener("click", function () {
      const open = pane.hidden;
      pane.hidden = !open;
      toggle.setAttribute("aria-pressed", String(open));
      toggle.textContent = open ? "Hide preview" : "Preview";
      if (open) refresh();
    });
    textarea.addEventListener("input", function () {
      if (pane.hidden) return;
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, DEBOUNCE_MS);
    });
  }

  function start() {
    document.querySelectorAll("form.note-form").forEach(function (form) {
      const message = form.querySelector(".form-message");
      const button = form.querySelector("button[type=submit]");
      addPreview(form);
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
