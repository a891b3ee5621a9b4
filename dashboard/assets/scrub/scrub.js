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
  const PLOT_CONFIG = { displaylogo: false, responsive: true };
  const state = { raw: null, view: null, pos: 0, indexArg: null, parts: {}, figs: [], drawn: [], seq: 0 };
  // Read by tests and the load test: every completed redraw's time, from the input event
  // to the frame after the figures were redrawn.
  const probe = (window.taskfairScrub = { moves: 0, redraws: [], value: null, index: null, ready: false });

  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data || {}), "*");
  }

  function resize() {
    send("streamlit:setFrameHeight", { height: Math.ceil(root.getBoundingClientRect().height) + 8 });
  }

  function fmt(v, format) {
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "–";
    if (typeof v !== "number") return String(v);
    const m = /^%(?:\.(\d+))?([df])$/.exec(format || "%.3f");
    if (!m) return String(v);
    return m[2] === "d" ? String(Math.round(v)) : v.toFixed(m[1] === undefined ? 6 : +m[1]);
  }

  function shown(x) {
    return x.toFixed(state.view.decimals);
  }

  function urlValue(x) {
    return String(Number(x.toFixed(10))); // 0.3, never 0.30000000000000004
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; // user strings are text, never markup
    return e;
  }

  // ----------------------------------------------------------------------- building

  function block(name, view) {
    const P = state.parts;
    if (name === "slider") {
      const wrap = el("div", "slider");
      const head = el("div", "head");
      head.appendChild(el("span", "label", view.label));
      P.sliderValue = el("span", "value");
      head.appendChild(P.sliderValue);
      const input = el("input");
      input.type = "range";
      input.min = "0";
      input.max = String(view.values.length - 1);
      input.step = "1";
      input.setAttribute("aria-label", view.label);
      input.addEventListener("input", function (ev) {
        show(+input.value, ev.timeStamp);
      });
      P.slider = input;
      const ends = el("div", "ends");
      ends.appendChild(el("span", null, shown(view.values[0])));
      ends.appendChild(el("span", null, shown(view.values[view.values.length - 1])));
      wrap.appendChild(head);
      wrap.appendChild(input);
      wrap.appendChild(ends);
      return wrap;
    }
    if (name === "title") return (P.title = el("div", "title"));
    if (name === "notes") return (P.notes = el("div", "notes"));
    if (name === "cards") {
      const grid = el("div", "cards");
      P.cards = view.cards.map(function (c) {
        const card = el("div", "card");
        const label = el("div", "label", c.label);
        if (c.help) label.title = c.help;
        const value = el("div", "value");
        value.dataset.key = c.key;
        card.appendChild(label);
        card.appendChild(value);
        grid.appendChild(card);
        return { column: c, value: value };
      });
      return grid;
    }
    if (name === "table") {
      const table = el("table");
      const tr = el("tr");
      tr.appendChild(el("th", null, "group"));
      view.columns.forEach(function (c) {
        const th = el("th", null, c.label);
        if (c.help) th.title = c.help;
        tr.appendChild(th);
      });
      const thead = el("thead");
      thead.appendChild(tr);
      table.appendChild(thead);
      P.tbody = el("tbody");
      table.appendChild(P.tbody);
      const wrap = el("div", "tablewrap"); // a narrow column scrolls the table sideways
      wrap.appendChild(table);
      return wrap;
    }
    if (name.indexOf("figure:") === 0) {
      const d = el("div", "figure");
      state.figs[+name.slice(7)] = d;
      return d;
    }
    if (name.indexOf("heading:") === 0) return el("h3", "heading", name.slice(8));
    if (name.indexOf("text:") === 0) return el("p", "text", name.slice(5));
    return el("div");
  }

  function build(view) {
    root.textContent = "";
    state.parts = {};
    state.figs = [];
    state.drawn = [];
    view.blocks.forEach(function (row) {
      const r = el("div", "row");
      row.forEach(function (col) {
        const c = el("div", "col");
        c.style.flex = col[0] + " 1 0";
        col[1].forEach(function (name) {
          c.appendChild(block(name, view));
        });
        r.appendChild(c);
      });
      root.appendChild(r);
    });
  }

  // ----------------------------------------------------------------------- drawing

  function figureAt(j, i) {
    const packed = state.view.figures[j];
    const step = packed.steps[i];
    // A fresh layout each time: plotly writes computed ranges into the layout it is given.
    const layout = JSON.parse(JSON.stringify(packed.layouts[step.layout]));
    if (packed.template) layout.template = packed.template;
    // Copies too: plotly writes into the trace objects it holds (Plotly.animate merges a
    // frame into them), and the packed traces are shared by every position.
    const data = JSON.parse(JSON.stringify(step.data.map((k) => packed.traces[k])));
    return { data: data, layout: layout, key: step.layout + ":" + step.data.join(",") };
  }

  function fillText(s) {
    const P = state.parts;
    if (P.title) P.title.textContent = s.title;
    (P.cards || []).forEach(function (c) {
      c.value.textContent = fmt(s.overall[c.column.key], c.column.format);
    });
    if (P.tbody) {
      const body = document.createDocumentFragment();
      s.groups.forEach(function (g) {
        const tr = el("tr");
        tr.appendChild(el("td", null, String(g.group)));
        state.view.columns.forEach(function (c) {
          tr.appendChild(el("td", null, fmt(g[c.key], c.format)));
        });
        body.appendChild(tr);
      });
      P.tbody.textContent = "";
      P.tbody.appendChild(body);
    }
    if (P.notes) {
      P.notes.textContent = "";
      s.notes.forEach(function (n) {
        P.notes.appendChild(el("div", null, "⚠ " + n));
      });
    }
  }

  function isScatter(trace) {
    return !trace.type || trace.type === "scatter";
  }

  // Redraw figure ``j`` of ``div`` at position ``i``, doing as little as the change needs:
  // only moved scatter traces (the current marker) are redrawn in place; a changed outline
  // (shapes) is a relayout of the shapes; anything else is a plotly.react of the figure.
  function redraw(div, j, i) {
    const packed = state.view.figures[j];
    const step = packed.steps[i];
    const f = figureAt(j, i);
    const was = state.drawn[j];
    if (was && was.key === f.key) return null; // this figure looks the same here
    state.drawn[j] = { key: f.key, step: step };
    if (was && was.step.data.length === step.data.length) {
      const moved = step.data
        .map((k, n) => (k === was.step.data[n] ? -1 : n))
        .filter((n) => n >= 0);
      const sameLayout = was.step.layout === step.layout;
      if (sameLayout && moved.length && moved.every((n) => isScatter(f.data[n]))) {
        return Plotly.animate(
          div,
          { data: moved.map((n) => f.data[n]), traces: moved },
          { transition: { duration: 0 }, frame: { duration: 0, redraw: false }, mode: "immediate" }
        );
      }
      if (!moved.length && !sameLayout) {
        const a = packed.layouts[was.step.layout], b = packed.layouts[step.layout];
        const keys = new Set(Object.keys(a).concat(Object.keys(b)));
        const changed = Array.from(keys).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
        if (changed.every((k) => k === "shapes" || k === "annotations")) {
          const update = {};
          changed.forEach((k) => (update[k] = b[k] ? JSON.parse(JSON.stringify(b[k])) : []));
          return Plotly.relayout(div, update);
        }
      }
    }
    return Plotly.react(div, f.data, f.layout, PLOT_CONFIG);
  }

  function show(i, t0) {
    const view = state.view;
    const s = view.steps[i];
    const seq = ++state.seq;
    state.pos = i;
    const P = state.parts;
    if (P.slider) {
      P.slider.value = String(i);
      P.slider.setAttribute("aria-valuetext", shown(s.value));
      P.sliderValue.textContent = shown(s.value);
    }
    fillText(s);
    syncUrl(); // with the position, in one go: the URL never lags behind the slider
    const draws = state.figs.map((div, j) => (div ? redraw(div, j, i) : null));
    Promise.all(draws).then(function () {
      // After the next frame: what the viewer sees, not only what the DOM holds.
      requestAnimationFrame(function () {
        setTimeout(function () {
          if (seq !== state.seq) return; // a newer move took over
          probe.value = s.value;
          probe.index = i;
          if (t0 !== null && t0 !== undefined) {
            probe.redraws.push(performance.now() - t0);
            probe.moves += 1;
          }
          root.dataset.value = urlValue(s.value);
          root.dataset.state = "ready";
          probe.ready = true;
          resize();
        }, 0);
      });
    });
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
      state.view = JSON.parse(args.view);
      probe.view = state.view.view;
      build(state.view);
      state.indexArg = index;
      show(index, null);
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
