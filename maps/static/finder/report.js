/* 上报隐患: a category, a short description and a position (a tap on the map, in the basemap's
 * datum, or the device's own), posted to /api/tips through the offline queue. Before it is
 * sent, the open cases of that category nearby are listed (metoo.js): the rider may say
 * 我也遇到 on one of them instead, or send anyway. The answer shows the grid cell, subdistrict,
 * street and station the tip was assigned to, as text; its receipt is kept for 我的上报. */

import { $, distanceText, el } from "./dom.js";
import { locate } from "./locate.js";
import { askFirst, findNearby, hideNearby } from "./metoo.js";
import { mineChanged } from "./mine.js";
import { enqueue, isDue, loadQueue, newKey, reporterId, send } from "./queue.js";
import { activeTab, setSheet } from "./sheet.js";

const RETRY_MS = 15000;

let app;
let report = null; // {post: {lon, lat, crs}, wgs, gcj}
let reportHow = "";
let marker = null;
let retryTimer = null;

function reportStatus(text, kind) {
  const p = $("yz-report-msg");
  p.textContent = text || "";
  p.className = "yz-msg" + (kind ? " yz-" + kind : "");
}

function setReportPos(pos, how) {
  report = pos;
  reportHow = how;
  if (!marker) {
    marker = L.circleMarker(app.shown(pos), {
      radius: 9,
      color: "#fff",
      weight: 3,
      fillColor: "#d93025",
      fillOpacity: 1,
      interactive: false,
    }).addTo(app.map);
  } else {
    marker.setLatLng(app.shown(pos)).addTo(app.map);
  }
  $("yz-pos-text").textContent =
    "位置：" + pos.wgs.lat.toFixed(5) + ", " + pos.wgs.lng.toFixed(5) + "（" + how + "）";
}

function clearReportPos() {
  report = null;
  if (marker) app.map.removeLayer(marker);
  $("yz-pos-text").textContent = "位置：请在地图上点选";
}

// Where the report's position is drawn (null when none is picked).
export function reportShown() {
  return report ? marker.getLatLng() : null;
}

export function repositionReport() {
  if (report) marker.setLatLng(app.shown(report));
}

function loadCategories() {
  const select = $("yz-cat");
  fetch("/api/categories")
    .then((res) => {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    })
    .then((rows) => {
      select.textContent = "";
      const first = el("option", "", "请选择类别");
      first.value = "";
      select.appendChild(first);
      for (const r of rows) {
        const opt = el("option", "", r.name + (r.examples ? "（" + r.examples + "）" : ""));
        opt.value = r.code;
        select.appendChild(opt);
      }
      select.setAttribute("data-loaded", "true");
    })
    .catch(() => {
      select.textContent = "";
      const opt = el("option", "", "类别加载失败，联网后自动重试");
      opt.value = "";
      select.appendChild(opt);
    });
}

function showPending() {
  const n = loadQueue().length;
  $("yz-pending").textContent = n ? "待发送 " + n + " 条上报，联网后自动重试。" : "";
}

function showResult(tip, fresh) {
  reportStatus(
    (fresh ? "已上报，谢谢！" : "之前保存的上报已补发成功。") + "编号 " + tip.tip_id,
    "ok",
  );
  const box = $("yz-report-result");
  box.textContent = "";
  const dl = el("dl", "yz-result-dl");
  function row(k, v) {
    dl.appendChild(el("dt", "", k));
    dl.appendChild(el("dd", "", v === null || v === undefined || v === "" ? "—" : v));
  }
  const station = tip.nearest_station_id && app.byId[tip.nearest_station_id];
  const subName = app.cfg.subdistricts[tip.subdistrict_code];
  row("类别", tip.category_name || tip.category);
  if (tip.description) row("描述", tip.description);
  row("网格", tip.grid_code);
  row(
    "街道",
    tip.subdistrict_code
      ? subName
        ? subName + "（" + tip.subdistrict_code + "）"
        : tip.subdistrict_code
      : null,
  );
  row(
    "最近道路",
    tip.street_name ? tip.street_name + " · 约 " + distanceText(tip.street_distance_m) : null,
  );
  row(
    "最近驿站",
    tip.nearest_station_id
      ? (station ? station.yz.info.name : tip.nearest_station_id) +
          " · 约 " +
          distanceText(tip.station_distance_m)
      : null,
  );
  box.appendChild(dl);
  if (tip.outside_city) {
    box.appendChild(el("p", "yz-hint yz-warn", "这个位置在城市网格之外，已按最近道路登记。"));
  }
}

// Send one queued report and show what became of it. ``fresh`` is the form's draft ({pos, how})
// for a report just submitted, null for a retry.
function deliver(item, fresh) {
  return send(item).then((answer) => {
    if (answer.outcome === "sent") {
      showResult(answer.data, fresh);
      mineChanged();
    } else if (answer.outcome === "refused") {
      const detail = (answer.data && answer.data.detail) || "HTTP " + answer.status;
      if (fresh) {
        // give the rider the report back to correct it
        $("yz-desc").value = item.body.description;
        if (fresh.pos) setReportPos(fresh.pos, fresh.how);
        reportStatus("提交失败，内容或位置不符合要求：" + detail, "err");
      } else {
        reportStatus("一条保存的上报被拒绝（" + item.body.description + "）：" + detail, "err");
      }
    } else if (answer.outcome === "kept") {
      if (fresh) {
        reportStatus(answer.status ? "已保存，稍后自动重试" : "已保存，联网后自动重试", "warn");
      }
      if (answer.waitMs > 0) retryWhenDue(loadQueue());
    }
    showPending();
    return answer.outcome;
  });
}

// Try again as soon as the first report held back by a Retry-After is due (a moment after, so
// that it is), on this page load or the next.
function retryWhenDue(queue) {
  const now = Date.now();
  const held = queue.filter((item) => !isDue(item, now)).map((item) => item.not_before);
  if (!held.length) return;
  window.clearTimeout(retryTimer);
  retryTimer = window.setTimeout(retryPending, Math.min(...held) - now + 100);
}

// Send every saved report that is not held back by a Retry-After.
export function retryPending() {
  const now = Date.now();
  const queue = loadQueue();
  showPending();
  retryWhenDue(queue);
  return Promise.all(queue.filter((item) => isDue(item, now)).map((item) => deliver(item, null)));
}

// Clear the form once its report is sent or confirmed elsewhere.
function clearForm() {
  $("yz-desc").value = "";
  clearReportPos();
  $("yz-report-result").textContent = "";
}

// Queue the report of ``draft`` and send it.
function sendDraft(draft) {
  const item = {
    key: newKey(),
    saved_at: new Date().toISOString(),
    body: {
      lon: draft.pos.post.lon,
      lat: draft.pos.post.lat,
      crs: draft.pos.post.crs,
      category: draft.category,
      description: draft.description,
      reporter_id: reporterId(),
    },
  };
  enqueue(item); // saved before it is sent: a lost connection loses nothing
  clearForm();
  reportStatus("正在提交…");
  deliver(item, draft);
}

let asking = 0; // the latest submit: an older one's nearby answer is dropped

function submitReport(ev) {
  ev.preventDefault();
  const category = $("yz-cat").value;
  if (!category) {
    reportStatus("请选择类别。", "err");
    return;
  }
  if (!report) {
    reportStatus("请先在地图上点选位置，或点“用我的位置”。", "err");
    return;
  }
  const draft = {
    pos: report,
    how: reportHow,
    category: category,
    description: $("yz-desc").value.trim(),
  };
  const ask = ++asking;
  hideNearby();
  $("yz-report-result").textContent = "";
  reportStatus("正在查看附近是否已有人上报…");
  findNearby(draft.pos.post, category).then((cases) => {
    if (ask !== asking) return;
    if (!cases || !cases.length) {
      sendDraft(draft); // nothing open nearby, or offline: the queue takes it
      return;
    }
    reportStatus("");
    askFirst(cases, {
      sendAnyway: () => sendDraft(draft),
      confirmed: (answer) => {
        clearForm();
        reportStatus(
          "已记录“我也遇到”，不用重复上报。这个问题现有 " +
            (answer.confirmations + 1) +
            " 人反映，谢谢！",
          "ok",
        );
      },
      say: reportStatus,
    });
  });
}

export function initReport(state) {
  app = state;
  loadCategories();
  $("yz-report").addEventListener("submit", submitReport);
  $("yz-pos-gps").addEventListener("click", () => {
    locate((user) => {
      reportStatus("");
      setReportPos(
        {
          post: { lon: user.wgs.lng, lat: user.wgs.lat, crs: "wgs84" },
          wgs: user.wgs,
          gcj: user.gcj,
        },
        "我的位置",
      );
      app.map.setView(app.shown(user), Math.max(app.map.getZoom(), 16));
    }, reportStatus);
  });
  app.map.on("click", (ev) => {
    if (activeTab() !== "report") return;
    // A tap gives coordinates in the datum of the basemap under it: GCJ-02 on Gaode.
    const ll = ev.latlng.wrap();
    const pos =
      app.frame === "gcj02"
        ? { post: { lon: ll.lng, lat: ll.lat, crs: "gcj02" }, gcj: ll, wgs: app.toWgs(ll) }
        : { post: { lon: ll.lng, lat: ll.lat, crs: "wgs84" }, wgs: ll, gcj: app.toGcj(ll) };
    setReportPos(pos, "地图点选");
    setSheet(true);
  });
  window.addEventListener("online", () => {
    retryPending();
    if ($("yz-cat").getAttribute("data-loaded") !== "true") loadCategories();
  });
  window.setInterval(retryPending, RETRY_MS);
  retryPending();
}
