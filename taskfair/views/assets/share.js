// The serverless share's page: draws the view this HTML file holds (a script element of
// JSON made by taskfair.views.share) with view.js, and keeps the slider's value in the
// address's fragment (#lam=0.5), so a copied link opens at the same λ — from file:// or
// any static host. No request leaves the page: plotly.js and this script sit beside it.
"use strict";
(function () {
  const root = document.getElementById("root");
  const view = JSON.parse(document.getElementById("view").textContent);

  function nearest(x) {
    let best = 0;
    view.values.forEach(function (v, i) {
      if (Math.abs(v - x) < Math.abs(view.values[best] - x)) best = i;
    });
    return best;
  }

  function fromHash() {
    const raw = new URLSearchParams(location.hash.slice(1)).get(view.param);
    const x = raw === null ? NaN : parseFloat(raw);
    return nearest(isFinite(x) ? x : view.default);
  }

  function moved(step) {
    const params = new URLSearchParams(location.hash.slice(1));
    if (Math.abs(step.value - view.default) < 1e-9) params.delete(view.param);
    else params.set(view.param, String(Number(step.value.toFixed(10))));
    const hash = params.toString();
    try {
      history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
    } catch (e) {
      window.taskfairScrub.urlError = String(e); // a host that forbids it: the link keeps the old value
    }
  }

  if (typeof Plotly === "undefined") {
    root.textContent = "The figures cannot be drawn: assets/plotly.min.js is missing beside this page.";
    return;
  }
  const drawn = TaskfairView(root, { moved: moved, drawn: function () {} });
  drawn.load(view, fromHash());
  window.addEventListener("hashchange", function () {
    const i = fromHash();
    if (i !== drawn.state.pos) drawn.show(i, null);
  });
})();
