/* The cases on the map: a circle marker each, coloured by state (desk.css, .yzd-s-<state>),
 * a red ring round the overdue ones, a legend, and the subdistrict outlines. The map needs no
 * tiles: outlines and markers are vector layers. */

import { $, el, safeClass } from "./dom.js";

let markers = {};

// maps/planning.py encode_polygons: per polygon, rings of 1e-5 degree integers, the first
// vertex relative to the city's south-west corner, the rest differences.
function latLngs(shape, cfg) {
  return shape.map((polygon) =>
    polygon.map((ring) => {
      let x = cfg.origin[0];
      let y = cfg.origin[1];
      const out = new Array(ring.length / 2);
      for (let i = 0; i < ring.length; i += 2) {
        x += ring[i];
        y += ring[i + 1];
        out[i / 2] = [y / cfg.scale, x / cfg.scale];
      }
      return out;
    }),
  );
}

function legend(app) {
  const control = L.control({ position: "bottomleft" });
  control.onAdd = () => {
    const box = el("div", "yzd-legend");
    box.id = "yzd-legend";
    box.appendChild(el("b", "", "案件状态"));
    for (const [state, name] of Object.entries(app.words.states)) {
      const item = el("div", "yzd-legend-item");
      item.appendChild(el("i", "yzd-dot yzd-s-" + safeClass(state)));
      item.appendChild(el("span", "", name));
      item.dataset.state = state;
      box.appendChild(item);
    }
    const late = el("div", "yzd-legend-item");
    late.appendChild(el("i", "yzd-dot yzd-dot-late"));
    late.appendChild(el("span", "", "红圈：超时"));
    box.appendChild(late);
    L.DomEvent.disableClickPropagation(box);
    return box;
  };
  control.addTo(app.map);
}

export function initCaseMap(app) {
  const table = app.cfg.subdistricts;
  table.shape.forEach((shape, i) => {
    L.polygon(latLngs(shape, app.cfg), { className: "yzd-sub", interactive: false }).addTo(
      app.subdistrictsLayer,
    );
    L.tooltip({ permanent: true, direction: "center", className: "yzd-sub-label" })
      .setLatLng(table.at[i])
      .setContent(el("span", "", table.name[i]))
      .addTo(app.subdistrictsLayer);
  });
  legend(app);
}

function tooltip(app, c) {
  const box = el("div", "yzd-tt");
  const head = el("div", "");
  head.appendChild(el("b", "", app.categoryName(c.category)));
  head.appendChild(el("span", "yzd-tt-state", " " + (app.words.states[c.state] || c.state)));
  if (c.overdue) head.appendChild(el("span", "yzd-tt-late", " 超时"));
  box.appendChild(head);
  const text = c.description || "";
  box.appendChild(el("div", "yzd-tt-desc", text.length > 40 ? text.slice(0, 40) + "…" : text));
  box.appendChild(el("div", "yzd-tt-id", c.tip_id));
  return box;
}

export function showCases(app, cases) {
  app.casesLayer.clearLayers();
  markers = {};
  // overdue ones last, so drawn on top
  const order = cases.filter((c) => !c.overdue).concat(cases.filter((c) => c.overdue));
  for (const c of order) {
    if (!isFinite(c.lat) || !isFinite(c.lon)) continue;
    const cls = "yzd-case yzd-s-" + safeClass(c.state) + (c.overdue ? " yzd-case-late" : "");
    const marker = L.circleMarker([c.lat, c.lon], {
      radius: 7,
      weight: c.overdue ? 3 : 1.5,
      fillOpacity: 0.9,
      className: cls,
    });
    marker.bindTooltip(tooltip(app, c), { direction: "top", offset: [0, -6] });
    marker.on("click", () => app.openCase(c.tip_id));
    marker.on("add", () => {
      const path = marker.getElement();
      path.setAttribute("data-tip", c.tip_id);
      path.setAttribute("data-state", c.state);
      if (c.overdue) path.setAttribute("data-overdue", "true");
    });
    marker.addTo(app.casesLayer);
    markers[c.tip_id] = marker;
  }
  markCase(app, app.selected);
  const box = $("yzd-legend");
  if (box) box.dataset.cases = String(Object.keys(markers).length);
}

// The marker of the case open in the panel: larger, and in view.
export function markCase(app, tipId, { pan = false } = {}) {
  for (const [id, marker] of Object.entries(markers)) {
    const on = id === tipId;
    marker.setRadius(on ? 11 : 7);
    const path = marker.getElement();
    if (path) path.classList.toggle("yzd-case-on", on);
    if (on) {
      marker.bringToFront();
      if (pan) inView(app, marker.getLatLng());
    }
  }
}

// Pan a position into the part of the map the case panel leaves free (on its left).
function inView(app, latLng) {
  const size = app.map.getSize();
  const panel = document.getElementById("yzd-case");
  const covered = panel && !panel.hidden ? panel.offsetWidth + 20 : 0;
  const free = { left: 40, top: 40, right: size.x - covered - 40, bottom: size.y - 40 };
  const at = app.map.latLngToContainerPoint(latLng);
  if (at.x >= free.left && at.x <= free.right && at.y >= free.top && at.y <= free.bottom) return;
  const centre = L.point((free.left + free.right) / 2, (free.top + free.bottom) / 2);
  app.map.panBy(at.subtract(centre), { animate: false });
}

export function resetCaseMap(app) {
  app.casesLayer.clearLayers();
  markers = {};
}
