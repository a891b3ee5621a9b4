// A shipped view (taskfair.views.ship) drawn in the browser: the slider, the metric
// cards, the per-group table, the notes and the figures, redrawn from the exact points
// the view holds with no server. Used by the dashboard's scrub component (scrub.js, which
// speaks Streamlit's protocol) and by the serverless share (share.js).
//
// TaskfairView(root, hooks) -> { load(view, index), show(index, t0), state }
//   hooks.moved(step): the position changed (the page records it in its URL);
//   hooks.drawn(): a position is on screen (the page sizes its frame).
// Every completed redraw's time, from the input event to the frame after the figures were
// redrawn, is kept in window.taskfairScrub (read by tests and the load test).
"use strict";
window.TaskfairView = function (root, hooks) {
  const PLOT_CONFIG = { displaylogo: false, responsive: true };
  const state = { view: null, pos: 0, parts: {}, figs: [], drawn: [], seq: 0 };
  const probe = (window.taskfairScrub = window.taskfairScrub || {
    moves: 0, redraws: [], value: null, index: null, ready: false,
  });

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

  // Each figure's traces and layouts as JSON text, made once per view: a position's
  // figure is then parsed from them (fresh objects each time: plotly writes computed
  // ranges into the layout and merges animation frames into the traces it holds, and the
  // packed parts are shared by every position).
  function texts(packed) {
    if (!packed._text) {
      packed._text = {
        traces: packed.traces.map((t) => JSON.stringify(t)),
        layouts: packed.layouts.map((l) => JSON.stringify(l)),
      };
    }
    return packed._text;
  }

  function figureAt(j, i) {
    const packed = state.view.figures[j];
    const step = packed.steps[i];
    const text = texts(packed);
    const layout = JSON.parse(text.layouts[step.layout]);
    if (packed.template) layout.template = packed.template;
    const data = JSON.parse("[" + step.data.map((k) => text.traces[k]).join(",") + "]");
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
        P.notes.appendChild(el("div", null, n)); // marked (⚠) where a warning, by the view
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
    hooks.moved(s); // with the position, in one go: the URL never lags behind the slider
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
          hooks.drawn();
        }, 0);
      });
    });
  }


  function load(view, index) {
    state.view = view;
    probe.view = view.view;
    build(view);
    show(index, null);
  }

  return { load: load, show: show, state: state, urlValue: urlValue };
};
