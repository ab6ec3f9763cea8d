// Shared by the fleet and device pages: fetching the API, tables, and uPlot charts.
"use strict";

const binhai = (() => {
  const errors = [];
  function recordError(text) {
    errors.push(String(text));
    document.body.dataset.errors = String(errors.length);
    const el = document.getElementById("status");
    if (el) { el.textContent = "error: " + text; el.classList.add("error"); }
  }
  window.addEventListener("error", (e) => recordError(e.message));
  window.addEventListener("unhandledrejection", (e) => recordError(e.reason));

  async function api(path) {
    const resp = await fetch(path, { cache: "no-store" });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error || resp.statusText);
    return body;
  }

  function ago(ns, nowNs) {
    if (!ns) return "never";
    const s = Math.max(0, (nowNs - ns) / 1e9);
    if (s >= 86400) return Math.round(s / 86400) + "d ago";
    if (s >= 3600) return Math.round(s / 3600) + "h ago";
    if (s >= 60) return Math.round(s / 60) + "m ago";
    return Math.round(s) + "s ago";
  }

  function iso(ns) { return ns ? new Date(ns / 1e6).toISOString().replace(".000", "") : "-"; }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function table(id, columns, rows, empty) {
    const root = document.getElementById(id);
    root.replaceChildren();
    if (!rows.length) { root.append(el("p", { class: "empty" }, empty)); return; }
    const head = el("tr", {}, ...columns.map((c) => el("th", {}, c[0])));
    const body = rows.map((r) => el("tr", {}, ...columns.map((c) => {
      const v = c[1](r);
      return el("td", {}, v instanceof Node ? v : (v === null || v === undefined ? "-" : v));
    })));
    root.append(el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
    root.dataset.rows = String(rows.length);
  }

  function tiles(id, items) {
    const root = document.getElementById(id);
    root.replaceChildren(...items.map(([k, v]) =>
      el("div", { class: "tile" }, el("div", { class: "v" }, v), el("div", { class: "k" }, k))));
  }

  // One uPlot chart per container, created on first data and updated with setData afterwards.
  const charts = new Map();
  function chart(id, title, seriesNames, data, opts) {
    const root = document.getElementById(id);
    const points = data.length ? data[0].length : 0;
    root.dataset.points = String(points);
    let c = charts.get(id);
    if (!c) {
      const series = [{}].concat(seriesNames.map((name, i) => ({
        label: name, stroke: ["#1a73e8", "#e8710a", "#137333", "#a142f4"][i % 4], width: 1.5,
      })));
      c = new uPlot({
        title, width: Math.max(300, root.clientWidth || 600), height: 220, series,
        scales: { x: { time: !(opts && opts.notTime) } },
        axes: opts && opts.notTime ? [{ label: opts.xLabel || "" }, {}] : undefined,
      }, data, root);
      charts.set(id, c);
    } else {
      c.setData(data);
    }
    return c;
  }

  // Poll: run fn now and every ms milliseconds; body[data-updates] counts the refreshes.
  let updates = 0;
  function loop(fn, ms) {
    const run = async () => {
      try {
        await fn();
        document.body.dataset.ready = "1";
        document.body.dataset.updates = String(++updates);
        const st = document.getElementById("status");
        if (st && !errors.length) st.textContent = "updated " + new Date().toLocaleTimeString();
      } catch (e) {
        recordError(e.message || e);
      }
      setTimeout(run, ms);
    };
    run();
  }

  return { api, ago, iso, el, table, tiles, chart, loop };
})();
