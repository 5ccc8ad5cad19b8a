// The iteration page's image series: a slider steps through the images logged under one name.
"use strict";
(function () {
  for (const figure of document.querySelectorAll("[data-testid=image-series]")) {
    const steps = figure.dataset.steps.split(",");
    const img = figure.querySelector("img");
    const slider = figure.querySelector("input[type=range]");
    const output = figure.querySelector("output");
    slider.addEventListener("input", function () {
      const step = steps[Number(slider.value)];
      img.src = figure.dataset.src + "&step=" + encodeURIComponent(step);
      img.alt = img.alt.replace(/at step .*$/, "at step " + step);
      output.textContent = step;
    });
  }
})();
