/* 暖心驿站地图: starts the finder once Folium's inline script has made the map and its layers.
 * That script only stores them with the page's data in window.yzPage (a module runs after it);
 * everything else is built here. window.YZ holds what the browser tests look at. */

import { gcjConverter } from "./coords.js";
import { initLocate, repositionUser, userShown } from "./locate.js";
import { initMine, refreshMine } from "./mine.js";
import { fetchNearest, initNearest } from "./nearest.js";
import { initReport, reportShown, repositionReport, retryPending } from "./report.js";
import { initSheet } from "./sheet.js";
import { initStations, repositionStations } from "./stations.js";

const page = window.yzPage;
const { toGcj, toWgs } = gcjConverter(page.data.offset);

// What the modules share: the map and its layers, the markers, the rider's position, and the
// datum of the active basemap ("wgs84", or "gcj02" on Gaode).
const app = {
  cfg: page.data,
  map: page.map,
  cluster: page.cluster,
  frame: "wgs84",
  markers: [],
  byId: {},
  visible: [],
  user: null, // {wgs, gcj, accuracy}
  toGcj,
  toWgs,
  shown: (pos) => (app.frame === "gcj02" ? pos.gcj : pos.wgs),
};

function setFrame(next) {
  if (next === app.frame) return;
  const center = app.map.getCenter();
  app.frame = next;
  app.map.closePopup();
  repositionStations();
  repositionUser();
  repositionReport();
  // keep the same ground under the centre of the screen
  const moved = next === "gcj02" ? toGcj(center) : toWgs(center);
  app.map.setView(moved, app.map.getZoom(), { animate: false });
}

app.map.attributionControl.setPrefix("Leaflet");
initSheet();
initLocate(app);
initStations(app, () => fetchNearest(false));
initNearest(app);
initReport(app);
initMine();
app.map.on("baselayerchange", (ev) => setFrame(ev.layer === page.gaode ? "gcj02" : "wgs84"));

window.YZ = {
  config: app.cfg,
  map: app.map,
  cluster: app.cluster,
  markers: app.markers,
  byId: app.byId,
  toGcj,
  toWgs,
  frame: () => app.frame,
  shownPositions: () => ({ user: userShown(), report: reportShown() }),
  retryPending,
  refreshMine,
};

if (app.map.hasLayer(page.gaode)) setFrame("gcj02");
