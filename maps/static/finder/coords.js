/* WGS84 <-> GCJ-02 for positions known only in the browser (the rider's own position, a tap on
 * the map). The server samples GCJ-02 minus WGS84 with geo.crs on a grid over the city
 * (maps/finder.py gcj_offset_grid); between its nodes the offset is interpolated bilinearly, and
 * the inverse iterates on it. */

function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

// {toGcj, toWgs} on L.LatLng for one offset grid {x0, y0, step, nx, ny, dlon, dlat}.
export function gcjConverter(grid) {
  function offsetAt(lng, lat) {
    const fx = clamp((lng - grid.x0) / grid.step, 0, grid.nx - 1.000001);
    const fy = clamp((lat - grid.y0) / grid.step, 0, grid.ny - 1.000001);
    const i = Math.floor(fx);
    const j = Math.floor(fy);
    const tx = fx - i;
    const ty = fy - j;
    const k = j * grid.nx + i;
    const bilinear = (a) =>
      a[k] * (1 - tx) * (1 - ty) +
      a[k + 1] * tx * (1 - ty) +
      a[k + grid.nx] * (1 - tx) * ty +
      a[k + grid.nx + 1] * tx * ty;
    return [bilinear(grid.dlon), bilinear(grid.dlat)];
  }

  function toGcj(ll) {
    const d = offsetAt(ll.lng, ll.lat);
    return L.latLng(ll.lat + d[1], ll.lng + d[0]);
  }

  function toWgs(ll) {
    let w = L.latLng(ll.lat, ll.lng);
    for (let n = 0; n < 5; n++) {
      const d = offsetAt(w.lng, w.lat);
      w = L.latLng(ll.lat - d[1], ll.lng - d[0]);
    }
    return w;
  }

  return { toGcj, toWgs };
}
