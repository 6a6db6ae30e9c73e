/* 附近驿站: the three nearest stations open now (with the amenities picked in 筛选), asked from
 * /api/stations/nearest for the rider's position, with distance and a navigation link. */

import { $, distanceText, el, navLink } from "./dom.js";
import { locate } from "./locate.js";
import { openTab, setSheet } from "./sheet.js";
import { focusStation, selectedAmenities } from "./stations.js";

let app;

function nearStatus(text, kind) {
  const p = $("yz-near-status");
  p.textContent = text;
  p.className = "yz-hint" + (kind ? " yz-" + kind : "");
}

// Fit the rider and the listed stations into the part of the map the sheet leaves visible.
function showAround(latlngs) {
  const sheet = $("yz-sheet").getBoundingClientRect();
  const covered = Math.max(0, app.map.getSize().y - sheet.top);
  app.map.fitBounds(L.latLngBounds(latlngs), {
    paddingTopLeft: [36, 90],
    paddingBottomRight: [36, covered + 36],
    maxZoom: 16,
    animate: false,
  });
}

function renderNearest(data) {
  const list = $("yz-near-list");
  list.textContent = "";
  const feats = (data && data.features) || [];
  if (!feats.length) {
    nearStatus("附近没有符合条件的营业中驿站。", "warn");
    return;
  }
  const need = selectedAmenities();
  const label = need.length
    ? "（有" + need.map((c) => app.cfg.amenities[c] || c).join("、") + "）"
    : "";
  nearStatus("离你最近的营业中驿站" + label + "：");
  for (const f of feats) {
    const p = f.properties;
    const li = el("li", "yz-near-item");
    const main = el("div", "yz-near-main");
    const name = el("button", "yz-near-name", p.name);
    name.type = "button";
    name.addEventListener("click", () => {
      setSheet(false);
      focusStation(p.station_id);
    });
    main.appendChild(name);
    const meta = el("div", "yz-near-meta");
    meta.appendChild(el("span", "yz-near-dist", distanceText(p.distance_m)));
    meta.appendChild(el("span", "yz-near-am", (p.amenity_labels || []).join(" · ")));
    main.appendChild(meta);
    li.appendChild(main);
    li.appendChild(navLink(p.nav_url));
    list.appendChild(li);
  }
}

// Ask for the stations nearest the rider; ``fit`` brings them all into view.
export function fetchNearest(fit) {
  if (!app.user) return;
  const params = new URLSearchParams({
    lon: app.user.wgs.lng.toFixed(7),
    lat: app.user.wgs.lat.toFixed(7),
    crs: "wgs84",
    k: "3",
    open_now: "true",
  });
  for (const a of selectedAmenities()) params.append("amenity", a);
  nearStatus("正在查找最近的营业中驿站…");
  fetch("/api/stations/nearest?" + params.toString())
    .then((res) =>
      res.json().then((data) => {
        if (!res.ok) throw new Error(data.detail || "HTTP " + res.status);
        return data;
      }),
    )
    .then((data) => {
      renderNearest(data);
      if (fit) {
        const pts = [app.shown(app.user)];
        for (const f of data.features || []) {
          const m = app.byId[f.properties.station_id];
          if (m) pts.push(app.shown(m.yz));
        }
        showAround(pts);
      }
    })
    .catch(() => nearStatus("查询失败，请检查网络后再试。", "err"));
}

function locateAndList() {
  openTab("near");
  locate((user) => {
    app.map.setView(app.shown(user), Math.max(app.map.getZoom(), 15), { animate: false });
    fetchNearest(true);
  }, nearStatus);
}

// The 定位 button on the map and the one in the pane.
export function initNearest(state) {
  app = state;
  const Locate = L.Control.extend({
    options: { position: "topleft" },
    onAdd() {
      const box = L.DomUtil.create("div", "leaflet-bar yz-locate");
      const a = L.DomUtil.create("a", "", box);
      a.href = "#";
      a.title = "定位并列出最近的营业中驿站";
      a.setAttribute("role", "button");
      a.textContent = "定位";
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.on(a, "click", (ev) => {
        L.DomEvent.preventDefault(ev);
        locateAndList();
      });
      return box;
    },
  });
  new Locate().addTo(app.map);
  $("yz-near-locate").addEventListener("click", locateAndList);
}
