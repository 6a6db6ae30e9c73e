/* The queue: the cases this account sees, soonest deadline first (so overdue ones on top) as
 * the API sorts them, filtered by 街道, category, state and 只看超时, loaded a page at a
 * time. The map shows the same cases as the list. */

import { api } from "./api.js";
import { showCases } from "./casemap.js";
import { $, clear, el, lateBy, option, shortTime, stateBadge } from "./dom.js";

const queue = { cases: [], total: 0, seq: 0 };

function filters() {
  return {
    subdistrict_code: $("yzd-f-sub").value,
    category: $("yzd-f-cat").value,
    state: $("yzd-f-state").value,
    overdue: $("yzd-f-overdue").checked ? "true" : "",
  };
}

function setState(state) {
  $("yzd-queue").dataset.state = state;
}

export function initQueue(app) {
  const cat = $("yzd-f-cat");
  for (const [code, name] of Object.entries(app.cfg.categories)) {
    cat.appendChild(option(code, name));
  }
  const state = $("yzd-f-state");
  for (const [code, name] of Object.entries(app.words.states)) {
    state.appendChild(option(code, name));
  }
  $("yzd-filters").addEventListener("change", () => loadQueue(app));
  $("yzd-filters").addEventListener("submit", (ev) => ev.preventDefault());
  $("yzd-q-more").addEventListener("click", () => loadMore(app));
}

// The 街道 filter offers the subdistricts of the account's scope (all when it has none).
export function scopeQueue(app) {
  const select = clear($("yzd-f-sub"));
  const scope = app.staff.subdistricts || [];
  select.appendChild(option("", scope.length ? "本账号的全部街道" : "全部街道"));
  const { code, name } = app.cfg.subdistricts;
  code.forEach((c, i) => {
    if (!scope.length || scope.includes(c)) select.appendChild(option(c, name[i]));
  });
  for (const id of ["yzd-f-cat", "yzd-f-state"]) $(id).value = "";
  $("yzd-f-overdue").checked = false;
}

export function resetQueue(app) {
  queue.seq += 1;
  queue.cases = [];
  queue.total = 0;
  clear($("yzd-q-list"));
  $("yzd-q-count").textContent = "";
  $("yzd-q-more").hidden = true;
  setState("idle");
}

// The first page again, or (keep) as many cases as the list holds now, up to the API's limit.
export async function loadQueue(app, { keep = false } = {}) {
  const session = app.session;
  const seq = ++queue.seq;
  const size = app.cfg.page_size;
  const limit = keep ? Math.min(app.cfg.page_max, Math.max(size, queue.cases.length)) : size;
  setState("loading");
  let data;
  try {
    data = await api("/api/cases", { params: { ...filters(), limit, offset: 0 } });
  } catch (e) {
    if (session === app.session && seq === queue.seq) failed(e);
    return;
  }
  if (session !== app.session || seq !== queue.seq) return;
  queue.cases = data.cases;
  queue.total = data.numberMatched;
  render(app);
}

async function loadMore(app) {
  const session = app.session;
  const seq = ++queue.seq;
  setState("loading");
  $("yzd-q-more").disabled = true;
  let data;
  try {
    data = await api("/api/cases", {
      params: { ...filters(), limit: app.cfg.page_size, offset: queue.cases.length },
    });
  } catch (e) {
    if (session === app.session && seq === queue.seq) failed(e);
    return;
  } finally {
    $("yzd-q-more").disabled = false;
  }
  if (session !== app.session || seq !== queue.seq) return;
  // a case that moved up meanwhile could come twice: keep its first place
  const seen = new Set(queue.cases.map((c) => c.tip_id));
  queue.cases = queue.cases.concat(data.cases.filter((c) => !seen.has(c.tip_id)));
  queue.total = data.numberMatched;
  render(app);
}

function failed(error) {
  if (error.status === 401) return; // back at the sign-in form
  $("yzd-q-count").textContent = "队列加载失败：" + error.detail;
  setState("error");
}

function render(app) {
  const list = clear($("yzd-q-list"));
  for (const c of queue.cases) list.appendChild(row(app, c));
  const shown = queue.cases.length;
  $("yzd-q-count").textContent = queue.total
    ? "共 " + queue.total + " 件，显示 " + shown + " 件"
    : "没有符合条件的案件。";
  const more = $("yzd-q-more");
  more.hidden = shown >= queue.total;
  more.textContent = "加载更多（还有 " + (queue.total - shown) + " 件）";
  showCases(app, queue.cases);
  markRow(app.selected);
  setState("ready");
}

function row(app, c) {
  const li = el("li", "yzd-row" + (c.overdue ? " yzd-row-late" : ""));
  li.dataset.tip = c.tip_id;
  li.dataset.state = c.state;
  li.tabIndex = 0;
  li.setAttribute("role", "button");
  const top = el("div", "yzd-row-top");
  top.appendChild(stateBadge(app.words, c.state));
  top.appendChild(el("span", "yzd-row-cat", app.categoryName(c.category)));
  if (c.urgency === "urgent") {
    top.appendChild(el("span", "yzd-flag yzd-urgent", app.words.urgencies.urgent));
  }
  top.appendChild(el("span", "yzd-row-id", c.tip_id));
  li.appendChild(top);
  li.appendChild(el("div", "yzd-row-desc", c.description || "（无描述）"));
  const meta = el("div", "yzd-row-meta");
  const where = [app.subdistrictName(c.subdistrict_code), c.street_name].filter(Boolean);
  meta.appendChild(el("span", "", where.join(" · ")));
  if (c.overdue) {
    meta.appendChild(el("span", "yzd-late", "超时 " + lateBy(c.due_at)));
  } else if (c.due_at) {
    const step = app.words.steps[c.step] || "";
    meta.appendChild(el("span", "yzd-due", step + "期限 " + shortTime(c.due_at)));
  }
  li.appendChild(meta);
  const open = () => app.openCase(c.tip_id);
  li.addEventListener("click", open);
  li.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      open();
    }
  });
  return li;
}

// The row of the case open in the panel.
export function markRow(tipId) {
  for (const li of document.querySelectorAll("#yzd-q-list .yzd-row")) {
    li.classList.toggle("yzd-row-on", li.dataset.tip === tipId);
  }
}
