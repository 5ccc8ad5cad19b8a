// The Tokens page: create a token (its secret shown once, never stored here) and revoke one.
"use strict";

(function () {
  const mlops = window.mlops;

  function start() {
    const form = document.getElementById("token-form");
    const message = form.querySelector(".form-message");
    const box = document.getElementById("token-secret");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const projects = form.elements.projects.value
        .split(",")
        .map((p) => p.trim())
        .filter((p) => p);
      const body = {
        name: form.elements.name.value.trim(),
        scope: form.elements.scope.value,
        projects: projects,
      };
      const expires = form.elements.expires.value.trim();
      if (expires) body.expires = expires;
      message.className = "form-message";
      message.textContent = "Creating…";
      try {
        const answer = await mlops.fetchJson("/api/v1/tokens", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        box.hidden = false;
        box.querySelector("code").textContent = answer.secret;
        message.classList.add("ok");
        message.textContent = "Token " + answer.token.name + " created.";
        form.reset();
      } catch (error) {
        message.classList.add("error");
        message.textContent = error.message;
      }
    });
    document.querySelectorAll("button.revoke").forEach(function (button) {
      button.addEventListener("click", async function () {
        const row = button.closest("tr");
        button.disabled = true;
        try {
          const token = await mlops.fetchJson(
            "/api/v1/tokens/" + encodeURIComponent(row.dataset.tokenId),
            { method: "DELETE" },
          );
          row.querySelector("[data-testid=token-revoked]").textContent = token.revoked_at;
          button.remove();
        } catch (error) {
          message.className = "form-message error";
          message.textContent = error.message;
          button.disabled = false;
        }
      });
    });
    mlops.ready();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
