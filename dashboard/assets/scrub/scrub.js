// The browser-side slider of a shipped view (taskfair.views.ship): moving it redraws the
// figures, the metric cards, the per-group table and the notes from the exact points the
// page sent once, with no message to the server. The URL keeps the value (replaceState on
// the app's own window), so a copied link reproduces the view.
//
// Streamlit's component protocol (version 1) by hand: "componentReady" once, then a
// "render" message with the arguments on every script run; "setFrameHeight" to size the
// frame. The component never sends a value back: the server has nothing to do per move.
"use strict";
(function () {
  const root = document.getElementById("root");
  // The drawing (view.js); this file speaks Streamlit's protocol and keeps the URL.
  const probe = (window.taskfairScrub = { moves: 0, redraws: [], value: null, index: null, ready: false });

  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data || {}), "*");
  }

  function resize() {
    send("streamlit:setFrameHeight", { height: Math.ceil(root.getBoundingClientRect().height) + 8 });
  }

  const drawn = TaskfairView(root, { moved: syncUrl, drawn: resize });
  const urlValue = drawn.urlValue;
  // The view's state (view, pos) and this frame's own: the last view text and index the
  // server sent, whether the URL was put back since, the page the URL belongs to.
  const state = Object.assign(drawn.state, { raw: null, indexArg: null, nudged: false, path: null });

  function show(i, t0) {
    drawn.show(i, t0);
  }

  // Whether the app's URL already says this slider's value (compared as numbers: the
  // app writes its query string its own way, and an absent value means the default).
  function urlHolds(w) {
    const view = state.view;
    const x = view.values[state.pos];
    const cur = new URL(w.location.href).searchParams.get(view.param);
    if (cur === null) return Math.abs(x - view.default) < 1e-9;
    return Math.abs(parseFloat(cur) - x) < 1e-9;
  }

  function syncUrl() {
    try {
      const w = window.parent;
      state.path = w.location.pathname;
      if (urlHolds(w)) return;
      const view = state.view;
      const x = view.values[state.pos];
      const url = new URL(w.location.href);
      if (Math.abs(x - view.default) < 1e-9) url.searchParams.delete(view.param);
      else url.searchParams.set(view.param, urlValue(x));
      w.history.replaceState(w.history.state, "", url.toString());
    } catch (e) {
      probe.urlError = String(e); // a host page that forbids it: the link keeps the old value
    }
  }

  // The app rewrites its URL from its own copy of the query string (after a rerun, or
  // when a server-side slider that held the value goes away); that copy does not know
  // this slider's moves. If the URL lost the value, put it back and tell the app
  // (a history event), once per server render, so that its copy has it again.
  setInterval(function () {
    if (!state.view || state.nudged) return;
    try {
      const w = window.parent;
      if (w.location.pathname !== state.path) return; // another page: not ours any more
      if (urlHolds(w)) return;
      syncUrl();
      state.nudged = true;
      w.dispatchEvent(new PopStateEvent("popstate", { state: w.history.state }));
    } catch (e) {
      probe.urlError = String(e);
    }
  }, 500);

  // ----------------------------------------------------------------------- protocol

  const plotlyLoaded = new Promise(function (resolve, reject) {
    const script = document.createElement("script");
    script.src = "plotly.min.js";
    script.onload = resolve;
    script.onerror = reject;
    document.head.appendChild(script);
  });

  window.addEventListener("message", function (event) {
    // Only the app that holds this frame may draw in it: a message from any other window
    // (another frame, a tab that opened this one) is ignored.
    if (event.source !== window.parent) return;
    const msg = event.data;
    if (!msg || msg.type !== "streamlit:render") return;
    plotlyLoaded.then(
      function () {
        render(msg);
      },
      function () {
        root.textContent = "The figures could not be drawn: plotly.min.js did not load.";
        resize();
      }
    );
  });

  function render(msg) {
    const args = msg.args || {};
    if (msg.theme) {
      const t = msg.theme, s = document.documentElement.style;
      if (t.textColor) s.setProperty("--text", t.textColor);
      if (t.backgroundColor) s.setProperty("--background", t.backgroundColor);
      if (t.secondaryBackgroundColor) s.setProperty("--secondary", t.secondaryBackgroundColor);
      if (t.primaryColor) s.setProperty("--primary", t.primaryColor);
    }
    const index = +args.index;
    state.nudged = false;
    if (args.view !== state.raw) {
      state.raw = args.view;
      state.indexArg = index;
      drawn.load(JSON.parse(args.view), index);
    } else if (index !== state.indexArg) {
      // The server's value changed (a link, the browser's history): follow it. A rerun
      // that repeats the old value (the app's own copy of the URL lags behind this
      // slider) leaves the slider where the viewer put it.
      state.indexArg = index;
      show(index, null);
    } else {
      syncUrl();
    }
  }
  window.addEventListener("resize", resize);
  // Ready at once (the app waits for this before it shows the frame); plotly.js (4.6 MB)
  // loads meanwhile and the first render waits for it.
  send("streamlit:componentReady", { apiVersion: 1 });
})();
