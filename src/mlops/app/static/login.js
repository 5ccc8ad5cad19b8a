// The sign-in form: posts the token as JSON; the App keeps it in an HttpOnly session cookie.
"use strict";

(function () {
  const mlops = window.mlops;

  function start() {
    const form = document.getElementById("login-form");
    if (!form) {
      mlops.ready();
      return;
    }
    const message = form.querySelector(".form-message");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const token = form.elements.token.value.trim();
      message.className = "form-message";
      if (!token) {
        message.classList.add("error");
        message.textContent = "Paste your token first.";
        return;
      }
      button.disabled = true;
      message.textContent = "Checking…";
      try {
        const answer = await mlops.fetchJson("/login", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ token: token, next: document.body.dataset.next || "/projects" }),
        });
        message.classList.add("ok");
        message.textContent = "Signed in.";
        window.location.assign(answer.next || "/projects");
      } catch (error) {
        message.classList.add("error");
        message.textContent = error.message;
        button.disabled = false;
      }
    });
    mlops.ready();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
