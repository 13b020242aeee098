// spanrun UI: the little behaviour the server-rendered pages need.
// Every logged string reaches the DOM through textContent (never innerHTML), and page data
// comes from <script type="application/json"> blocks read with JSON.parse.
"use strict";

(function () {
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
    "#be185d", "#4d7c0f", "#7c3aed", "#b45309"];

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  let parsedData = null;
  function pageData() {  // parsed once: the compare page's can be large
    if (parsedData === null) {
      const node = document.getElementById("page-data");
      parsedData = node ? JSON.parse(node.textContent) : {};
    }
    return parsedData;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of params) search.append(key, value);
    return search.toString();
  }

  // -- self-refreshing pages (a running run) -------------------------------------------
  const refresh = Number(document.body.dataset.refresh || 0);
  if (refresh > 0) setTimeout(() => window.location.reload(), refresh * 1000);

  // -- forms that ask first ------------------------------------------------------------------
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // -- runs table ---------------------------------------------------------------------
  for (const box of document.querySelectorAll("input.select-all")) {
    box.addEventListener("change", () => {
      for (const other of document.querySelectorAll("#runs input[name=run]")) other.checked = box.checked;
    });
  }
  for (const search of document.querySelectorAll(".chooser-search")) {
    search.addEventListener("input", () => {
      const needle = search.value.toLowerCase();
      for (const item of search.closest(".chooser").querySelectorAll(".chooser-item")) {
        item.hidden = needle !== "" && !item.textContent.toLowerCase().includes(needle);
      }
    });
  }

  // -- run counts, fetched after the page shows (one at a time) ----------------------------
  (async () => {
    for (const cell of document.querySelectorAll(".run-count[data-experiment]")) {
      const params = [["experiment_id", cell.dataset.experiment], ["cap", cell.dataset.cap]];
      if (cell.dataset.filter) params.push(["filter", cell.dataset.filter]);
      try {
        const response = await fetch("/ui-api/run-count?" + query(params), { credentials: "same-origin" });
        const data = await response.json();
        if (data.error) { cell.textContent = ""; continue; }
        cell.textContent = data.count + (data.capped ? "+" : "") + (cell.dataset.suffix || "");
        const last = cell.parentElement.querySelector(".last-activity");
        if (last && data.last) {
          const shown = new Date(data.last).toISOString().replace("T", " ").slice(0, 19);
          if (shown > last.textContent) last.textContent = shown;
        }
      } catch (error) {
        cell.textContent = "?";
      } finally {
        cell.dataset.done = "1";
      }
    }
  })();

  // -- long cells expand on click -----------------------------------------------------
  for (const cell of document.querySelectorAll(".clamp")) {
    cell.addEventListener("click", () => cell.classList.toggle("open"));
  }

  // -- metric charts (uPlot) -------------------------------------------------------------
  function xAxisMode() {
    const select = document.querySelector("select.x-axis");
    return select ? select.value : "step";
  }

  // One request for every chart that needs drawing (same runs): GET /ui-api/metric-history
  // answers {"charts": [{"key", "series"}]}.
  const KEYS_PER_REQUEST = 20;

  async function fetchHistories(keys, runs, points) {
    const params = [["points", String(points)]];
    for (const key of keys) params.push(["key", key]);
    for (const run of runs) params.push(["run", run]);
    const response = await fetch("/ui-api/metric-history?" + query(params), { credentials: "same-origin" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    return (await response.json()).charts;
  }

  function drawChart(body, data, mode) {
    body.textContent = "";
    if (!data.series.length) {
      body.textContent = "No points.";
      return null;
    }
    const width = Math.max(280, body.clientWidth || 420);
    const xs = data.series.map((s) => [s[mode], s.value]);
    const aligned = xs.length === 1 ? xs[0] : uPlot.join(xs);
    const series = [{ label: mode === "time" ? "time" : "step" }];
    const names = pageData().names || {};
    data.series.forEach((s, i) => {
      series.push({ label: names[s.run_id] || s.run_id, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
        points: { show: s.value.length < 60 } });
    });
    const chart = new uPlot({
      width: width, height: 220, series: series,
      scales: { x: { time: mode === "time" } },
      legend: { show: data.series.length <= 12, live: true },  // 100 runs: hover shows them
      cursor: { drag: { x: true, y: false } },
    }, aligned, body);
    const total = data.series.reduce((n, s) => n + s.total, 0);
    const shown = data.series.reduce((n, s) => n + s.value.length, 0);
    if (total > shown) body.appendChild(el("p", "sub", shown + " of " + total + " points (down-sampled; min and max of each interval kept)"));
    body.dataset.drawn = "1";
    return chart;
  }

  // Charts of the same runs, loaded with one request.
  async function loadCharts(figures, mode) {
    const bodies = figures.map((figure) => figure.querySelector(".chart-body"));
    const points = Math.min(2000, Math.max(200, bodies[0].clientWidth * 2));
    for (const body of bodies) body.textContent = "loading…";
    try {
      const charts = await fetchHistories(figures.map((f) => f.dataset.key), figures[0].dataset.runs.split(","), points);
      const byKey = new Map(charts.map((chart) => [chart.key, chart]));
      figures.forEach((figure, i) => {
        figure._data = byKey.get(figure.dataset.key) || { key: figure.dataset.key, series: [] };
        drawChart(bodies[i], figure._data, mode);
      });
    } catch (error) {
      for (const body of bodies) body.textContent = "Could not load the history: " + error.message;
    }
  }

  // ``perRequest`` keys per request: a run's page asks for the charts in view together; the
  // compare page one key at a time, so a 100,000-point history in one run does not hold back
  // the other charts.
  function loadChartGroups(figures, perRequest) {
    const groups = new Map();
    for (const figure of figures) {
      if (!groups.has(figure.dataset.runs)) groups.set(figure.dataset.runs, []);
      groups.get(figure.dataset.runs).push(figure);
    }
    for (const group of groups.values()) {
      for (let i = 0; i < group.length; i += perRequest) loadCharts(group.slice(i, i + perRequest), xAxisMode());
    }
  }

  // A run's page may hold many charts: each loads when it comes near the viewport.
  function observeCharts(figures) {
    const observer = new IntersectionObserver((entries) => {
      const seen = entries.filter((entry) => entry.isIntersecting).map((entry) => entry.target);
      for (const figure of seen) observer.unobserve(figure);
      if (seen.length) loadChartGroups(seen, KEYS_PER_REQUEST);
    }, { rootMargin: "200px" });
    for (const figure of figures) observer.observe(figure);
  }

  const xAxis = document.querySelector("select.x-axis");
  if (xAxis) {
    xAxis.addEventListener("change", () => {
      for (const figure of document.querySelectorAll("figure.chart")) {
        if (figure._data) drawChart(figure.querySelector(".chart-body"), figure._data, xAxis.value);
      }
    });
  }
  const chartKeys = document.getElementById("chart-keys");
  const runCharts = document.querySelectorAll("#charts figure.chart");
  if (runCharts.length && !chartKeys) observeCharts(runCharts);

  // compare page: one overlaid chart per chosen metric, asked for before the tables are built
  if (chartKeys) {
    const runs = pageData().runs;
    const holder = document.getElementById("charts");
    const render = () => {
      holder.textContent = "";
      const figures = [];
      for (const option of chartKeys.selectedOptions) {
        const figure = el("figure", "chart");
        figure.dataset.key = option.value;
        figure.dataset.runs = runs.join(",");
        figure.appendChild(el("figcaption", null, option.value));
        figure.appendChild(el("div", "chart-body"));
        holder.appendChild(figure);
        figures.push(figure);
      }
      if (figures.length) loadChartGroups(figures, 1);
    };
    chartKeys.addEventListener("change", render);
    render();
  }

  // -- compare: the param and metric tables, built from page-data --------------------------
  function buildDiffTable(table, data) {
    const rows = data[table.dataset.table];
    const numeric = table.dataset.table === "metrics";
    const head = el("tr");
    head.appendChild(el("th", null, "Key"));
    for (const id of data.runs) {
      const th = el("th");
      const link = el("a", "run-link", data.names[id]);
      link.href = "/runs/" + encodeURIComponent(id);
      th.appendChild(link);
      head.appendChild(th);
    }
    table.tHead.appendChild(head);
    const body = document.createDocumentFragment();
    rows.keys.forEach((key, r) => {
      const tr = el("tr", rows.differs[r] ? "differs" : "same");
      tr.appendChild(el("th", null, key));
      for (const text of rows.cells[r]) {
        const td = el("td", numeric ? "num" : "value");
        if (text === null) td.appendChild(el("span", "missing", "–"));
        else td.textContent = text;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    });
    if (!rows.keys.length) {
      const tr = el("tr");
      const td = el("td", "empty", "None.");
      td.colSpan = data.runs.length + 1;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    table.tBodies[0].appendChild(body);
  }

  const diffTables = document.querySelectorAll("table.diff[data-table]");
  for (const table of diffTables) buildDiffTable(table, pageData());

  // -- compare: only differences ---------------------------------------------------------
  const onlyDiff = document.getElementById("only-diff");
  if (onlyDiff) {
    const apply = () => {
      for (const row of document.querySelectorAll("table.diff tr.same")) row.hidden = onlyDiff.checked;
    };
    onlyDiff.addEventListener("change", apply);
    apply();  // a box the browser restored checked
  }

  // -- compare: every param and metric of each run, for the plots below ---------------------
  // Params as text; metrics as numbers (NaN and infinities left out, as missing).
  function compareAxes() {
    const data = pageData();
    const runs = data.runs.map((id) => ({ id: id, name: data.names[id], values: {} }));
    for (const [kind, numeric] of [["params", false], ["metrics", true]]) {
      const rows = data[kind];
      const prefix = kind === "params" ? "param:" : "metric:";
      rows.keys.forEach((key, r) => {
        rows.cells[r].forEach((text, i) => {
          if (text === null) return;
          const value = numeric ? Number(text) : text;
          if (!numeric || Number.isFinite(value)) runs[i].values[prefix + key] = value;
        });
      });
    }
    return { runs: runs };
  }
  let axesData = null;
  function compareData() {
    if (axesData === null) axesData = compareAxes();
    return axesData;
  }

  // Plots below the fold are drawn when they come near the viewport: on the compare page this
  // keeps their work out of the way of the first paint and of the charts.
  function whenNear(node, draw) {
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) {
        observer.disconnect();
        draw();
      }
    }, { rootMargin: "200px" });
    observer.observe(node);
  }

  // -- parallel coordinates (canvas) -----------------------------------------------------
  const parallel = document.getElementById("parallel");
  if (parallel) {
    const data = compareData();
    const axesSelect = document.getElementById("pc-axes");
    const legend = document.getElementById("pc-legend");
    const draw = () => {
      const axes = Array.from(axesSelect.selectedOptions, (o) => o.value);
      const ctx = parallel.getContext("2d");
      const width = parallel.width, height = parallel.height, top = 30, bottom = height - 20;
      ctx.clearRect(0, 0, width, height);
      ctx.font = "11px sans-serif";
      legend.textContent = "";
      if (axes.length < 2) {
        ctx.fillStyle = "#666";
        ctx.fillText("Choose at least two axes.", 20, 40);
        parallel.dataset.drawn = "0";
        return;
      }
      const step = (width - 80) / (axes.length - 1);
      const scales = axes.map((axis) => {
        const values = data.runs.map((r) => r.values[axis]).filter((v) => v !== undefined && v !== null);
        const numbers = values.map(Number);
        if (values.length && numbers.every((n) => Number.isFinite(n))) {
          const lo = Math.min(...numbers), hi = Math.max(...numbers);
          return { pos: (v) => (hi === lo ? 0.5 : (Number(v) - lo) / (hi - lo)), lo: lo, hi: hi };
        }
        const cats = Array.from(new Set(values.map(String))).sort();
        return { pos: (v) => (cats.length < 2 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)), cats: cats };
      });
      ctx.strokeStyle = "#999";
      ctx.fillStyle = "#333";
      axes.forEach((axis, i) => {
        const x = 40 + i * step;
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
        ctx.fillText(axis.slice(0, 28), Math.max(0, x - 40), 14);
        const s = scales[i];
        if (s.cats === undefined) {
          ctx.fillText(String(+s.hi.toPrecision(4)), x + 3, top + 8);
          ctx.fillText(String(+s.lo.toPrecision(4)), x + 3, bottom);
        }
      });
      data.runs.forEach((run, r) => {
        const color = PALETTE[r % PALETTE.length];
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        let started = false;
        axes.forEach((axis, i) => {
          const v = run.values[axis];
          if (v === undefined || v === null) { started = false; return; }
          const x = 40 + i * step, y = bottom - scales[i].pos(v) * (bottom - top);
          if (started) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          started = true;
        });
        ctx.stroke();
        const item = el("li", null, run.name);
        item.style.borderLeftColor = color;
        legend.appendChild(item);
      });
      parallel.dataset.drawn = "1";
    };
    axesSelect.addEventListener("change", draw);
    whenNear(parallel, draw);
  }

  // -- scatter of any two params or metrics (numeric values only) ---------------------------
  const scatter = document.getElementById("scatter");
  if (scatter) {
    const data = compareData();
    const xSelect = document.getElementById("scatter-x");
    const ySelect = document.getElementById("scatter-y");
    const hover = document.getElementById("scatter-hover");
    let placed = [];
    const draw = () => {
      const ctx = scatter.getContext("2d");
      const width = scatter.width, height = scatter.height, pad = 50;
      ctx.clearRect(0, 0, width, height);
      ctx.font = "11px sans-serif";
      const points = [];
      data.runs.forEach((run, i) => {
        const x = Number(run.values[xSelect.value]), y = Number(run.values[ySelect.value]);
        if (run.values[xSelect.value] != null && run.values[ySelect.value] != null &&
            Number.isFinite(x) && Number.isFinite(y)) points.push({ run: run, x: x, y: y, i: i });
      });
      ctx.strokeStyle = "#999";
      ctx.strokeRect(pad, 10, width - pad - 10, height - pad - 10);
      ctx.fillStyle = "#333";
      ctx.fillText(xSelect.value.slice(0, 60), pad, height - 10);
      ctx.save(); ctx.translate(12, height - pad); ctx.rotate(-Math.PI / 2);
      ctx.fillText(ySelect.value.slice(0, 40), 0, 0); ctx.restore();
      placed = [];
      if (!points.length) {
        ctx.fillText("No run has numeric values for both.", pad + 10, 40);
        scatter.dataset.drawn = "0";
        return;
      }
      const span = (values) => {
        const lo = Math.min(...values), hi = Math.max(...values);
        return hi === lo ? [lo - 1, hi + 1] : [lo, hi];
      };
      const [xl, xh] = span(points.map((p) => p.x)), [yl, yh] = span(points.map((p) => p.y));
      ctx.fillText(String(+xl.toPrecision(4)), pad, height - pad + 14);
      ctx.fillText(String(+xh.toPrecision(4)), width - 60, height - pad + 14);
      ctx.fillText(String(+yh.toPrecision(4)), 2, 18);
      ctx.fillText(String(+yl.toPrecision(4)), 2, height - pad);
      for (const p of points) {
        const px = pad + 8 + (p.x - xl) / (xh - xl) * (width - pad - 26);
        const py = height - pad - 8 - (p.y - yl) / (yh - yl) * (height - pad - 26);
        ctx.fillStyle = PALETTE[p.i % PALETTE.length];
        ctx.beginPath(); ctx.arc(px, py, 4, 0, 2 * Math.PI); ctx.fill();
        placed.push([px, py, p]);
      }
      scatter.dataset.drawn = "1";
    };
    scatter.addEventListener("mousemove", (event) => {
      const box = scatter.getBoundingClientRect();
      const mx = (event.clientX - box.left) * scatter.width / box.width;
      const my = (event.clientY - box.top) * scatter.height / box.height;
      const near = placed.find(([px, py]) => Math.abs(px - mx) < 6 && Math.abs(py - my) < 6);
      hover.textContent = near ? near[2].run.name + ": " + near[2].x + ", " + near[2].y : "";
    });
    xSelect.addEventListener("change", draw);
    ySelect.addEventListener("change", draw);
    whenNear(scatter, draw);
  }

  // -- trace view -------------------------------------------------------------------------
  const tree = document.getElementById("span-tree");
  if (tree) {
    const data = pageData();
    const spans = data.spans;
    const total = Math.max(data.duration, 1e-6);
    const byId = new Map(spans.map((s) => [s.id, s]));
    const children = new Map();
    const roots = [];
    for (const span of spans) {
      if (span.parent && byId.has(span.parent)) {
        if (!children.has(span.parent)) children.set(span.parent, []);
        children.get(span.parent).push(span);
      } else {
        roots.push(span);
      }
    }
    const detail = document.getElementById("span-detail");
    let selected = null;

    function row(span, depth) {
      const line = el("div", "span-row" + (span.status === "ERROR" ? " span-error" : ""));
      line.setAttribute("role", "treeitem");
      line.dataset.spanId = span.id;
      const label = el("div", "span-label");
      label.style.paddingLeft = (depth * 14) + "px";
      const kids = children.get(span.id) || [];
      const toggle = el("button", "toggle", kids.length ? "▸" : "");
      toggle.type = "button";
      toggle.disabled = !kids.length;
      label.appendChild(toggle);
      label.appendChild(el("span", "span-name", span.name));
      if (kids.length) label.appendChild(el("span", "span-count", " (" + kids.length + ")"));
      const lane = el("div", "span-lane");
      const bar = el("div", "span-bar");
      bar.style.left = (100 * span.start / total) + "%";
      bar.style.width = Math.max(0.3, 100 * (span.end - span.start) / total) + "%";
      bar.title = (span.end - span.start).toFixed(1) + " ms";
      lane.appendChild(bar);
      lane.appendChild(el("span", "span-ms", (span.end - span.start).toFixed(1) + " ms"));
      line.appendChild(label);
      line.appendChild(lane);
      const box = el("div", "span-children");
      box.hidden = true;
      const wrap = el("div", "span-node");
      wrap.appendChild(line);
      wrap.appendChild(box);
      toggle.addEventListener("click", (event) => {
        event.stopPropagation();
        expand(span, box, toggle, depth, box.hidden);
      });
      line.addEventListener("click", () => select(span, line));
      return wrap;
    }

    // Children are built on first expansion only: a 5,000-span trace opens with its top levels.
    function expand(span, box, toggle, depth, open) {
      if (open && !box.dataset.built) {
        const fragment = document.createDocumentFragment();
        for (const kid of children.get(span.id) || []) fragment.appendChild(row(kid, depth + 1));
        box.appendChild(fragment);
        box.dataset.built = "1";
      }
      box.hidden = !open;
      toggle.textContent = open ? "▾" : "▸";
    }

    function table(entries) {
      const t = el("table", "grid kv");
      const body = el("tbody");
      for (const [key, value] of entries) {
        const tr = el("tr");
        tr.appendChild(el("th", null, key));
        tr.appendChild(el("td", "value", typeof value === "string" ? value : JSON.stringify(value)));
        body.appendChild(tr);
      }
      t.appendChild(body);
      return t;
    }

    function parseMessages(value) {
      if (value === undefined || value === null) return [];
      let parsed = value;
      if (typeof value === "string") {
        try { parsed = JSON.parse(value); } catch (e) { return [{ role: "text", parts: [{ type: "text", content: value }] }]; }
      }
      return Array.isArray(parsed) ? parsed : [parsed];
    }

    function partText(part) {
      if (part === null || typeof part !== "object") return [String(part), "text"];
      if (part.type === "tool_call") return [(part.name || "tool") + "(" + JSON.stringify(part.arguments ?? "") + ")", "tool-call"];
      if (part.type === "tool_call_response") return [typeof part.response === "string" ? part.response : JSON.stringify(part.response), "tool-result"];
      if (typeof part.content === "string") return [part.content, "text"];
      return [JSON.stringify(part), "text"];
    }

    function conversation(span) {
      const a = span.attributes;
      const messages = [];
      for (const instruction of parseMessages(a["gen_ai.system_instructions"])) {
        messages.push({ role: "system", parts: instruction.parts || [instruction] });
      }
      messages.push(...parseMessages(a["gen_ai.input.messages"]), ...parseMessages(a["gen_ai.output.messages"]));
      if (!messages.length) return null;
      const box = el("div", "conversation");
      for (const message of messages) {
        if (message === null || typeof message !== "object") continue;
        const role = String(message.role || "message");
        const bubble = el("div", "message role-" + role.replace(/[^a-z_]/gi, ""));
        bubble.appendChild(el("div", "role", role));
        const parts = Array.isArray(message.parts) ? message.parts
          : [{ type: "text", content: typeof message.content === "string" ? message.content : JSON.stringify(message.content ?? "") }];
        for (const part of parts) {
          const [text, kind] = partText(part);
          bubble.appendChild(el("div", "part part-" + kind, text));
        }
        if (Array.isArray(message.tool_calls)) {
          for (const call of message.tool_calls) bubble.appendChild(el("div", "part part-tool-call", JSON.stringify(call)));
        }
        box.appendChild(bubble);
      }
      return box;
    }

    function select(span, line) {
      if (selected) selected.classList.remove("selected");
      selected = line;
      line.classList.add("selected");
      detail.textContent = "";
      detail.appendChild(el("h2", "detail-name", span.name));
      detail.appendChild(el("p", "sub", span.kind + " · " + (span.end - span.start).toFixed(2) + " ms · starts at " + span.start.toFixed(2) + " ms"));
      if (span.status === "ERROR") detail.appendChild(el("p", "error", "Error: " + (span.message || "(no message)")));
      const talk = conversation(span);
      if (talk) { detail.appendChild(el("h3", null, "Messages")); detail.appendChild(talk); }
      detail.appendChild(el("h3", null, "Attributes"));
      detail.appendChild(table(Object.entries(span.attributes)));
      if (span.events.length) {
        detail.appendChild(el("h3", null, "Events"));
        for (const event of span.events) {
          const box = el("div", "event" + (event.name === "exception" ? " event-exception" : ""));
          box.appendChild(el("div", "event-name", event.name + " @ " + event.time.toFixed(2) + " ms"));
          const stack = event.attributes["exception.stacktrace"];
          const rest = Object.entries(event.attributes).filter(([k]) => k !== "exception.stacktrace");
          box.appendChild(table(rest));
          if (stack) box.appendChild(el("pre", "stack", stack));
          detail.appendChild(box);
        }
      }
    }

    const fragment = document.createDocumentFragment();
    const rootRows = roots.map((span) => {
      const node = row(span, 0);
      fragment.appendChild(node);
      return [span, node];
    });
    tree.appendChild(fragment);
    // Open the first two levels when they are small, and select the first failed span or root.
    if (spans.length <= 200) {
      for (const [span, node] of rootRows) {
        expand(span, node.querySelector(".span-children"), node.querySelector(".toggle"), 0, true);
      }
    }
    const failed = tree.querySelector(".span-error");
    const first = failed || tree.querySelector(".span-row");
    if (first) first.click();
    tree.dataset.ready = "1";
  }
})();
