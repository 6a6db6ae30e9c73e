/* The rider's own position: asked once per tap from the Geolocation API (WGS84), shown as a
 * blue dot with its accuracy. */

let app;
let dot = null;
let halo = null;

export function initLocate(state) {
  app = state;
}

// Find the rider, then ``then(user)``; ``say(text, kind)`` is the status line of the pane that
// asked.
export function locate(then, say) {
  if (!navigator.geolocation) {
    say("这个浏览器不能定位。", "err");
    return;
  }
  say("正在定位…");
  navigator.geolocation.getCurrentPosition(
    (p) => {
      const wgs = L.latLng(p.coords.latitude, p.coords.longitude);
      const user = { wgs: wgs, gcj: app.toGcj(wgs), accuracy: p.coords.accuracy || 0 };
      app.user = user;
      if (!dot) {
        halo = L.circle(app.shown(user), {
          radius: user.accuracy,
          interactive: false,
          color: "#1a73e8",
          weight: 1,
          fillOpacity: 0.1,
        }).addTo(app.map);
        dot = L.circleMarker(app.shown(user), {
          radius: 8,
          color: "#fff",
          weight: 3,
          fillColor: "#1a73e8",
          fillOpacity: 1,
          interactive: false,
        }).addTo(app.map);
      } else {
        dot.setLatLng(app.shown(user));
        halo.setLatLng(app.shown(user)).setRadius(user.accuracy);
      }
      if (then) then(user);
    },
    (err) => {
      let why = "暂时无法获取位置。";
      if (err.code === 1) {
        why =
          window.isSecureContext === false
            ? "定位需要 HTTPS 页面。"
            : "没有定位权限，请在浏览器设置里允许定位。";
      } else if (err.code === 3) {
        why = "定位超时，请再试一次。";
      }
      say(why, "err");
    },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
  );
}

// Where the rider's dot is drawn (null before the first fix).
export function userShown() {
  return dot && app.user ? dot.getLatLng() : null;
}

export function repositionUser() {
  if (!app.user) return;
  dot.setLatLng(app.shown(app.user));
  halo.setLatLng(app.shown(app.user));
}
