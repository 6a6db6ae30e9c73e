/* The rates (GET /api/metrics): a table per subdistrict and per unit, and a bar chart of 结案率
 * or 按期结案率 per subdistrict, drawn as plain SVG. */

import { api } from "./api.js";
import { $, clear, el, percent } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const COLUMNS = [
  ["cases", "案件"],
  ["registered", "立案"],
  ["closed", "结案"],
  ["closed_rate", "结案率"],
  ["on_time_rate", "按期结案率"],
  ["rework_rate", "返工率"],
];
const METRIC_NAMES = { closed_rate: "结案率", on_time_rate: "按期结案率" };
let shown = null; // the last answer per subdistrict, for redrawing the chart
let seq = 0;

function setState(state) {
  $("yzd-rates").dataset.state = state;
}

export function initRates(app) {
  $("yzd-r-metric").addEventListener("change", () => {
    if (shown) chart(shown.groups);
  });
}

export function resetRates() {
  seq += 1;
  shown = null;
  clear($("yzd-r-sub"));
  clear($("yzd-r-unit"));
  clear($("yzd-chart"));
  $("yzd-r-msg").textContent = "";
  setState("idle");
}

export async function loadRates(app) {
  const session = app.session;
  const mine = ++seq;
  setState("loading");
  let bySubdistrict, byUnit;
  try {
    [bySubdistrict, byUnit] = await Promise.all([
      api("/api/metrics", { params: { group_by: "subdistrict" } }),
      api("/api/metrics", { params: { group_by: "unit" } }),
    ]);
  } catch (e) {
    if (session !== app.session || mine !== seq || e.status === 401) return;
    $("yzd-r-msg").textContent = "统计暂不可用：" + e.detail;
    setState("error");
    return;
  }
  if (session !== app.session || mine !== seq) return;
  $("yzd-r-msg").textContent = "";
  shown = bySubdistrict;
  table($("yzd-r-sub"), "街道", bySubdistrict);
  table($("yzd-r-unit"), "处置单位", byUnit);
  chart(bySubdistrict.groups);
  setState("ready");
}

function cell(tag, key, value) {
  const node = el(tag, "", key.endsWith("_rate") ? percent(value) : value ?? "—");
  node.dataset.col = key;
  return node;
}

function table(node, label, answer) {
  clear(node);
  const head = el("tr");
  head.appendChild(el("th", "", label));
  for (const [, name] of COLUMNS) head.appendChild(el("th", "", name));
  node.appendChild(el("thead")).appendChild(head);
  const body = el("tbody");
  for (const g of answer.groups || []) {
    const tr = el("tr");
    tr.dataset.key = g.key ?? ""; // no key: cases outside every subdistrict, or with no unit
    tr.appendChild(el("th", "", g.name || g.key || "—"));
    for (const [key] of COLUMNS) tr.appendChild(cell("td", key, g[key]));
    body.appendChild(tr);
  }
  node.appendChild(body);
  if (answer.city) {
    const tr = el("tr", "yzd-city-row");
    tr.dataset.key = "city";
    tr.appendChild(el("th", "", answer.city.name || "全市"));
    for (const [key] of COLUMNS) tr.appendChild(cell("td", key, answer.city[key]));
    node.appendChild(el("tfoot")).appendChild(tr);
  }
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// Horizontal bars from 0 to 100 %, one per subdistrict, in the order the API gives them.
function chart(groups) {
  const metric = $("yzd-r-metric").value;
  const box = clear($("yzd-chart"));
  box.setAttribute("aria-label", "各街道" + METRIC_NAMES[metric]);
  const rowH = 22;
  const labelW = 96;
  const valueW = 52;
  const width = 360;
  const barW = width - labelW - valueW;
  const height = Math.max(1, groups.length) * rowH + 8;
  box.setAttribute("viewBox", `0 0 ${width} ${height}`);
  box.setAttribute("height", String(height));
  for (const pct of [0, 0.5, 1]) {
    const x = labelW + pct * barW;
    box.appendChild(svg("line", { x1: x, x2: x, y1: 0, y2: height - 4, class: "yzd-grid" }));
  }
  groups.forEach((g, i) => {
    const y = 4 + i * rowH;
    const value = g[metric];
    const has = value !== null && value !== undefined && isFinite(value);
    const bar = svg("g", { class: "yzd-bar", "data-key": g.key ?? "" });
    bar.setAttribute("data-value", has ? String(value) : "");
    const name = String(g.name || g.key || "—");
    const short = name.length > 7 ? name.slice(0, 7) + "…" : name;
    bar.appendChild(svg("text", { x: labelW - 6, y: y + 14, "text-anchor": "end" }, short));
    const area = { x: labelW, y: y + 3, height: rowH - 8 };
    bar.appendChild(svg("rect", { ...area, width: barW, class: "yzd-bar-bg" }));
    if (has) {
      const filled = Math.max(0, Math.min(1, value)) * barW;
      bar.appendChild(svg("rect", { ...area, width: filled, class: "yzd-bar-fg" }));
    }
    const label = { x: labelW + barW + 4, y: y + 14, class: "yzd-bar-value" };
    bar.appendChild(svg("text", label, percent(value)));
    bar.appendChild(svg("title", {}, name + "：" + METRIC_NAMES[metric] + " " + percent(value)));
    box.appendChild(bar);
  });
}
