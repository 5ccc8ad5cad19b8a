// Starts Swagger UI on the App's own OpenAPI document (no CDN, no inline script), and lays
// out the bar that leads back to the App (styled here: the page has no App stylesheet, which
// would restyle Swagger UI, and the CSP allows no inline style attribute).
"use strict";

(function () {
  function styleNav() {
    const nav = document.querySelector(".docs-nav");
    if (!nav) return;
    Object.assign(nav.style, {
      display: "flex", flexWrap: "wrap", gap: "0.5rem 1.25rem", alignItems: "center",
      padding: "0.6rem 1.25rem", borderBottom: "1px solid #d8dde3",
      fontFamily: "system-ui, sans-serif", fontSize: "0.95rem", background: "#f6f8fa",
    });
    for (const link of nav.querySelectorAll("a")) link.style.color = "#1f5fbf";
    nav.querySelector("a").style.fontWeight = "600";
  }

  window.addEventListener("load", function () {
    styleNav();
    window.ui = SwaggerUIBundle({
      url: document.body.dataset.openapi,
      dom_id: "#swagger-ui",
      // no deep links: their anchors would sit inside each operation's toggle button (a
      // control nested in a control, which screen readers cannot reach)
      deepLinking: false,
    });
  });
})();
