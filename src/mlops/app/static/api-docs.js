// Starts Swagger UI on the App's own OpenAPI document (no CDN, no inline script).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapi,
    dom_id: "#swagger-ui",
    // no deep links: their anchors would sit inside each operation's toggle button (a
    // control nested in a control, which screen readers cannot reach)
    deepLinking: false,
  });
});
