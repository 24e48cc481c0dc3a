// The rxqix dashboard page: draws the views the server pushes over /ws and
// sends the user's clicks back as commands. No dependencies, no network but
// this page's own server.
"use strict";

(() => {
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const STATES = {
    S: "selected", O: "possible", A: "alternative", X: "excluded",
    L: "locked", XS: "excluded (selected)", XL: "excluded (locked)",
  };
  const MEASURES = {
    flights: { title: "Flights per month", css: "bar", format: formatInt },
    dep_delay: {
      title: "Mean departure delay per month (min)", css: "bar delay", format: formatDecimal,
    },
  };
  const PANELS = ["carriers", "months", "chart", "table", "selections"];
  const CLEARABLE = ["carrier", "month"];
  const MONTH_DEBOUNCE_MS = 150;
  const SVG = "http://www.w3.org/2000/svg";

  const page = {
    socket: null,
    retries: 0,
    measure: "flights",
    views: {},
    wantedMonths: null, // months clicked but not yet sent, as a Set
    monthTimer: null,
    errorTimer: null,
  };

  const byId = (id) => document.getElementById(id);

  function element(tag, attributes = {}, ...children) {
    const svg = ["svg", "g", "rect", "line", "text", "title"].includes(tag);
    const node = svg ? document.createElementNS(SVG, tag) : document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
      if (value === undefined || value === null) continue;
      if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function formatInt(value) {
    return value === null || value === undefined
      ? "\u2013" : Math.round(value).toLocaleString("en-US");
  }

  function formatDecimal(value) {
    return value === null || value === undefined ? "\u2013" : value.toFixed(1);
  }

  // -- the socket ------------------------------------------------------------

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    page.socket = socket;
    setStatus("connecting", "connecting");
    socket.addEventListener("open", () => {
      page.retries = 0;
      setStatus("live", "live");
    });
    socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      document.body.dataset.live = "false";
      setStatus("closed", "disconnected, retrying");
      const delay = Math.min(5000, 250 * 2 ** page.retries++);
      setTimeout(connect, delay);
    });
  }

  function send(command) {
    if (page.socket && page.socket.readyState === WebSocket.OPEN) {
      page.socket.send(JSON.stringify(command));
    }
  }

  function setStatus(state, text) {
    const status = byId("status");
    status.dataset.state = state;
    status.textContent = text;
  }

  const handlers = {
    hello(message) {
      byId("app-name").textContent = message.app;
      page.views = {};
    },
    carriers: renderCarriers,
    months(message) {
      if (page.monthTimer === null) page.wantedMonths = null;
      renderMonths(message);
    },
    chart: renderChart,
    table: renderTable,
    selections: renderSelections,
    error(message) { showError(message.message); },
  };

  function receive(message) {
    const handler = handlers[message.type];
    if (!handler) return;
    if (PANELS.includes(message.type)) page.views[message.type] = message;
    handler(message);
    const live = PANELS.every((name) => name in page.views);
    document.body.dataset.live = String(live);
  }

  function showError(text) {
    const box = byId("error");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(page.errorTimer);
    page.errorTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  // -- carriers --------------------------------------------------------------

  function renderCarriers(view) {
    const list = byId("carriers");
    list.replaceChildren(...view.values.map((value) => element("li", {},
      element("button", {
        type: "button",
        class: `value state-${value.state}`,
        "data-elem": value.elem,
        "data-value": value.text,
        "data-state": value.state,
        "aria-pressed": value.state === "S" ? "true" : "false",
        title: `${value.text}: ${STATES[value.state] || value.state}`,
        onclick: () => selectCarrier(value.elem),
      }, value.text))));
  }

  function selectCarrier(elem) {
    send({ type: "select", field: "carrier", elems: [elem], toggle: true });
  }

  // -- months: clicks gather locally, then one command after a quiet spell --

  function selectedMonths() {
    const view = page.views.months;
    const months = view ? view.values.filter((v) => v.state === "S").map((v) => v.num) : [];
    return new Set(months);
  }

  function toggleMonth(month) {
    const wanted = new Set(page.wantedMonths || selectedMonths());
    if (wanted.has(month)) wanted.delete(month); else wanted.add(month);
    page.wantedMonths = wanted;
    clearTimeout(page.monthTimer);
    page.monthTimer = setTimeout(() => {
      page.monthTimer = null;
      send({ type: "months", months: [...page.wantedMonths].sort((a, b) => a - b) });
    }, MONTH_DEBOUNCE_MS);
    if (page.views.months) renderMonths(page.views.months);
  }

  function cancelMonths() {
    clearTimeout(page.monthTimer);
    page.monthTimer = null;
    page.wantedMonths = null;
  }

  function renderMonths(view) {
    const wanted = page.wantedMonths;
    const box = byId("months");
    box.replaceChildren(...view.values.map((value) => {
      const pending = wanted !== null && wanted.has(value.num) !== (value.state === "S");
      const name = MONTHS[value.num - 1] || value.text;
      return element("button", {
        type: "button",
        class: `month state-${value.state}${pending ? " pending" : ""}`,
        "data-month": value.num,
        "data-state": value.state,
        "aria-pressed": value.state === "S" ? "true" : "false",
        title: `${name}: ${STATES[value.state] || value.state}`,
        onclick: () => toggleMonth(value.num),
      }, name);
    }));
  }

  // -- chart -----------------------------------------------------------------

  function niceTicks(low, high, count) {
    const span = high - low || 1;
    const raw = span / count;
    const power = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => span / s <= count);
    const ticks = [];
    for (let t = Math.floor(low / step) * step; t <= high + step * 1e-9; t += step) {
      ticks.push(Math.round(t / step) * step);
    }
    if (ticks[ticks.length - 1] < high) ticks.push(ticks[ticks.length - 1] + step);
    return ticks;
  }

  function renderChart() {
    const view = page.views.chart;
    if (!view) return;
    const measure = MEASURES[page.measure];
    byId("chart-title").textContent = measure.title;
    const svg = byId("chart");
    const width = 720, height = 250;
    const margin = { left: 56, right: 12, top: 18, bottom: 30 };
    const rows = view.rows.filter((row) => row.month !== null);
    if (rows.length === 0) {
      svg.replaceChildren(element("text", { x: width / 2, y: height / 2,
        class: "empty", "text-anchor": "middle" }, "No flights"));
      return;
    }
    const values = rows.map((row) => row[page.measure] ?? 0);
    const ticks = niceTicks(Math.min(0, ...values), Math.max(0, ...values), 4);
    const low = ticks[0], high = ticks[ticks.length - 1];
    const plotHeight = height - margin.top - margin.bottom;
    const y = (v) => margin.top + (high - v) / (high - low || 1) * plotHeight;
    const slot = (width - margin.left - margin.right) / 12;
    const barWidth = slot * 0.7;
    const grid = element("g", { class: "grid" });
    const axis = element("g", { class: "axis" });
    for (const tick of ticks) {
      grid.append(element("line", { x1: margin.left, x2: width - margin.right,
        y1: y(tick), y2: y(tick) }));
      axis.append(element("text", { x: margin.left - 6, y: y(tick) + 4,
        "text-anchor": "end" }, measure.format(tick)));
    }
    const bars = element("g", { class: "bars" });
    for (let month = 1; month <= 12; month++) {
      const x = margin.left + (month - 1) * slot;
      axis.append(element("text", { x: x + slot / 2, y: height - 10,
        "text-anchor": "middle" }, MONTHS[month - 1]));
    }
    rows.forEach((row, i) => {
      const value = values[i];
      const x = margin.left + (row.month - 1) * slot + (slot - barWidth) / 2;
      const top = Math.min(y(value), y(0));
      const barHeight = Math.max(1, Math.abs(y(value) - y(0)));
      bars.append(element("rect", {
        class: measure.css, x, y: top, width: barWidth, height: barHeight,
        "data-month": row.month,
        "data-flights": row.flights,
        "data-dep-delay": row.dep_delay,
      }, element("title", {}, `${MONTHS[row.month - 1]}: ${formatInt(row.flights)} flights, `
        + `mean dep. delay ${formatDecimal(row.dep_delay)} min`)));
      bars.append(element("text", { class: "bar-label", x: x + barWidth / 2,
        y: value >= 0 ? top - 4 : top + barHeight + 11, "text-anchor": "middle" },
        measure.format(row[page.measure])));
    });
    svg.replaceChildren(grid, axis, bars);
    svg.dataset.measure = page.measure;
  }

  // -- table -----------------------------------------------------------------

  function renderTable(view) {
    const table = byId("table");
    table.tBodies[0].replaceChildren(...view.rows.map((row) => element("tr", {
      "data-carrier": row.carrier,
      "data-flights": row.flights,
      "data-dep-delay": row.dep_delay,
      "data-arr-delay": row.arr_delay,
      title: `select ${row.carrier}`,
      onclick: () => {
        const elem = (page.views.carriers?.values || []).find((v) => v.text === row.carrier);
        if (elem) selectCarrier(elem.elem);
      },
    },
    element("td", {}, row.carrier),
    element("td", {}, row.airline),
    element("td", { class: "num" }, formatInt(row.flights)),
    element("td", { class: "num" }, formatDecimal(row.dep_delay)),
    element("td", { class: "num" }, formatDecimal(row.arr_delay)))));
    const total = view.total;
    table.tFoot.replaceChildren(element("tr", {
      "data-flights": total.flights, "data-dep-delay": total.dep_delay,
    },
    element("td", {}, "Total"), element("td", {}, ""),
    element("td", { class: "num" }, formatInt(total.flights)),
    element("td", { class: "num" }, formatDecimal(total.dep_delay)),
    element("td", { class: "num" }, formatDecimal(total.arr_delay))));
    byId("table-size").textContent = `${view.size} carrier${view.size === 1 ? "" : "s"}`;
  }

  // -- selections --------------------------------------------------------------

  function renderSelections(view) {
    byId("selection-text").textContent = view.text;
    byId("selection-chips").replaceChildren(...view.items.map((item) => {
      const chip = element("span", { class: "chip", "data-field": item.field },
        element("b", {}, `${item.field}:`), ` ${item.text} `);
      if (CLEARABLE.includes(item.field)) {
        chip.append(element("button", {
          type: "button", title: `clear ${item.field}`, "aria-label": `clear ${item.field}`,
          onclick: () => {
            if (item.field === "month") cancelMonths();
            send({ type: "clear", field: item.field });
          },
        }, "\u00D7"));
      }
      return chip;
    }));
  }

  // -- wiring ----------------------------------------------------------------

  function start() {
    byId("clear-all").addEventListener("click", () => {
      cancelMonths();
      send({ type: "clear" });
    });
    byId("clear-months").addEventListener("click", () => {
      cancelMonths();
      send({ type: "clear", field: "month" });
    });
    for (const button of document.querySelectorAll(".toggle button")) {
      button.addEventListener("click", () => {
        page.measure = button.dataset.measure;
        for (const other of document.querySelectorAll(".toggle button")) {
          other.setAttribute("aria-pressed", String(other === button));
        }
        renderChart();
      });
    }
    connect();
  }

  start();
})();
