/* The station markers (green: open now, grey: not), their clusters, and the amenity filter.
 * A station's popup arrives already escaped (maps/templates/station_popup.html); its name is
 * only ever used as an attribute (title, alt) or as text. */

import { $, el } from "./dom.js";

let app;

function stationMarker(row) {
  const info = row[2];
  const marker = L.marker([row[0], row[1]], {
    icon: L.divIcon({
      className: "yz-st " + (info.open ? "yz-st-open" : "yz-st-closed"),
      iconSize: [26, 26],
      html: "",
    }),
    title: info.name,
    alt: info.name,
    riseOnHover: true,
  });
  marker.yz = {
    info: info,
    wgs: L.latLng(row[0], row[1]),
    gcj: L.latLng(info.gcj[0], info.gcj[1]),
  };
  marker.bindPopup(info.popup, {
    maxWidth: 280,
    minWidth: 220,
    className: "yz-popup",
    autoPanPaddingTopLeft: [12, 130],
    autoPanPaddingBottomRight: [12, 70],
  });
  marker.on("add", () => {
    const node = marker.getElement();
    if (node) node.setAttribute("data-station", info.id);
  });
  return marker;
}

// A cluster: how many stations, and how many of them are open when only some are.
function clusterIcon(group) {
  const kids = group.getAllChildMarkers();
  const open = kids.filter((m) => m.yz && m.yz.info.open).length;
  const inner = el("div", "yz-cl-in");
  inner.appendChild(el("span", "", String(kids.length)));
  if (open > 0 && open < kids.length) {
    const badge = el("em", "yz-cl-badge", String(open));
    badge.title = open + " 个营业中";
    inner.appendChild(badge);
  }
  const size = kids.length < 10 ? 36 : kids.length < 100 ? 42 : 50;
  return L.divIcon({
    html: inner,
    className: "yz-cl " + (open ? "yz-cl-open" : "yz-cl-closed"),
    iconSize: L.point(size, size),
  });
}

export function selectedAmenities() {
  const boxes = document.querySelectorAll('#yz-amenities input[name="amenity"]:checked');
  return Array.from(boxes, (b) => b.value);
}

function applyFilter(onChange) {
  const need = selectedAmenities();
  const openOnly = $("yz-open-only").checked;
  app.visible = app.markers.filter((m) => {
    const info = m.yz.info;
    if (openOnly && !info.open) return false;
    return need.every((code) => info.am.includes(code));
  });
  app.map.closePopup();
  app.cluster.clearLayers();
  app.cluster.addLayers(app.visible);
  $("yz-count").textContent = "显示 " + app.visible.length + " / " + app.cfg.total + " 个驿站";
  const n = need.length + (openOnly ? 1 : 0);
  $("yz-filter-badge").textContent = n ? String(n) : "";
  onChange();
}

// Show a station asked for by name, even when the filter hides it.
export function focusStation(id) {
  const marker = app.byId[id];
  if (!marker) return;
  if (!app.cluster.hasLayer(marker)) {
    app.cluster.addLayer(marker);
    app.visible.push(marker);
  }
  app.cluster.zoomToShowLayer(marker, () => marker.openPopup());
}

// Put every marker where the active basemap's datum has it.
export function repositionStations() {
  app.cluster.clearLayers();
  for (const m of app.markers) m.setLatLng(app.shown(m.yz));
  app.cluster.addLayers(app.visible);
}

// Markers for every station, in the cluster group Folium made; ``onFilter`` after each change.
export function initStations(state, onFilter) {
  app = state;
  app.cluster.options.iconCreateFunction = clusterIcon;
  app.markers = app.cfg.stations.map(stationMarker);
  for (const m of app.markers) app.byId[m.yz.info.id] = m;
  app.visible = app.markers.slice();
  app.cluster.addLayers(app.visible);
  for (const input of document.querySelectorAll("#yz-amenities input, #yz-open-only")) {
    input.addEventListener("change", () => applyFilter(onFilter));
  }
}
