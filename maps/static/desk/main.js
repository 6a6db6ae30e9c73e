/* 案件工作台: starts the desk once Folium's inline script has made the map and its layers (it
 * stores them with the page's data in window.yzDesk; a module runs after it).
 *
 * The page's state is on <body>: data-state is "signin" (the form shows), "loading" or "ready",
 * and data-loads counts the loads finished since the page opened, so a test (or a person) can
 * tell that the queue, the map and the rates show the answer to the latest change. */

import { api, dropToken, keepToken, looksLikeToken, onUnauthorized, token } from "./api.js";
import { initCaseMap, resetCaseMap } from "./casemap.js";
import { $, clear } from "./dom.js";
import { closeCase, initPanel, openCase } from "./panel.js";
import { initQueue, loadQueue, resetQueue, scopeQueue } from "./queue.js";
import { initRates, loadRates, resetRates } from "./rates.js";

const page = window.yzDesk;
const cfg = page.data;

// What the modules share.
const app = {
  cfg,
  words: cfg.words,
  map: page.map,
  casesLayer: page.cases,
  subdistrictsLayer: page.subdistricts,
  session: 0, // bumped at every sign-in and sign-out: answers of an older session are dropped
  staff: null,
  units: [],
  unitName: (id) => {
    const unit = app.units.find((u) => u.unit_id === id);
    return unit ? unit.name : id;
  },
  subdistrictName: (code) => {
    const i = cfg.subdistricts.code.indexOf(code);
    return i < 0 ? code || "—" : cfg.subdistricts.name[i];
  },
  categoryName: (code) => cfg.categories[code] || code,
  openCase: (tipId) => openCase(app, tipId),
  refresh,
};

let loads = 0;

function setState(state) {
  document.body.dataset.state = state;
  document.body.dataset.ready = String(state === "ready");
}

function showSignIn(message) {
  $("yzd-signin").hidden = false;
  $("yzd-signin-msg").textContent = message || "";
  $("yzd-signout").hidden = true;
  $("yzd-who").textContent = "";
  $("yzd-token").value = "";
  $("yzd-signin-submit").disabled = false;
  setState("signin");
  $("yzd-token").focus();
}

function signOut(message) {
  app.session += 1;
  app.staff = null;
  app.units = [];
  dropToken();
  closeCase(app);
  resetQueue(app);
  resetCaseMap(app);
  resetRates(app);
  showSignIn(message);
}

// The queue (and with it the map) and the rates, loaded again; the panel keeps its case.
async function refresh() {
  const session = app.session;
  setState("loading");
  const done = await Promise.allSettled([loadQueue(app, { keep: true }), loadRates(app)]);
  for (const one of done) if (one.status === "rejected") console.error(one.reason);
  if (session !== app.session) return;
  loads += 1;
  document.body.dataset.loads = String(loads);
  setState("ready");
}

async function start() {
  const session = ++app.session;
  setState("loading");
  $("yzd-signin-submit").disabled = true;
  $("yzd-signin-msg").textContent = "正在登录…";
  let staff, units;
  try {
    [staff, units] = await Promise.all([api("/api/staff/me"), api("/api/units")]);
  } catch (e) {
    if (session !== app.session) return;
    if (e.status === 401) return; // signed out by onUnauthorized, with its message
    dropToken();
    showSignIn("登录失败：" + e.detail);
    return;
  }
  if (session !== app.session) return;
  app.staff = staff;
  app.units = units;
  $("yzd-signin").hidden = true;
  $("yzd-signin-msg").textContent = "";
  const who = $("yzd-who");
  const unit = staff.unit_id ? " · " + app.unitName(staff.unit_id) : "";
  clear(who).textContent = staff.name + " · " + staff.role_name + unit;
  $("yzd-signout").hidden = false;
  scopeQueue(app);
  await refresh();
}

function initTabs() {
  for (const tab of document.querySelectorAll(".yzd-tab")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".yzd-tab")) {
        other.setAttribute("aria-selected", String(other === tab));
      }
      for (const pane of document.querySelectorAll(".yzd-pane")) {
        pane.hidden = pane.dataset.pane !== tab.dataset.tab;
      }
    });
  }
}

onUnauthorized(() => {
  signOut(
    app.staff ? "登录已失效（令牌有误或已被吊销），请重新登录。" : "令牌无效，请检查后重新输入。",
  );
});

$("yzd-signin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const value = $("yzd-token").value.trim();
  if (!value) {
    $("yzd-signin-msg").textContent = "请输入令牌。";
    return;
  }
  if (!looksLikeToken(value)) {
    $("yzd-signin-msg").textContent =
      "令牌格式不对：应为 yz_ 开头的一串字母、数字和符号。";
    return;
  }
  keepToken(value);
  start();
});
$("yzd-signout").addEventListener("click", () => signOut("已退出登录。"));

app.map.attributionControl.setPrefix("Leaflet");
initTabs();
initCaseMap(app);
initPanel(app);
initQueue(app);
initRates(app);

window.YZD = { app, map: app.map, refresh };

if (token()) start();
else showSignIn("");
