/* 暖心驿站地图: station markers, basemap datum shift, nearest open stations, amenity filter and
 * the hazard report form with an offline queue. Data from the server is put on the page with
 * textContent or DOM nodes only; the station popups arrive already escaped (maps/finder.py). */
(function () {
  "use strict";

  var QUEUE_KEY = "yizhan.pendingTips";
  var REPORTER_KEY = "yizhan.reporterId";
  var RETRY_MS = 15000;

  var YZ = (window.YZ = { markers: [], byId: {} });
  var cfg, map, cluster, gaode;
  var frame = "wgs84"; // the datum of the active basemap: "wgs84" or "gcj02" (Gaode)
  var visible = [];
  var user = null; // {wgs, gcj, accuracy}
  var report = null; // {post: {lon, lat, crs}, wgs, gcj}
  var reportHow = "";
  var userLayer = null;
  var userHalo = null;
  var reportLayer = null;
  var activeTab = "near";
  var inFlight = {};
  var memoryQueue = [];
  var memoryReporter = null;

  // ---------------------------------------------------------------- markers (called by Folium)

  YZ.stationMarker = function (row) {
    var info = row[2];
    var marker = L.marker([row[0], row[1]], {
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
    marker.on("add", function () {
      var el = marker.getElement();
      if (el) el.setAttribute("data-station", info.id);
    });
    YZ.markers.push(marker);
    YZ.byId[info.id] = marker;
    return marker;
  };

  YZ.clusterIcon = function (group) {
    var kids = group.getAllChildMarkers();
    var open = 0;
    for (var i = 0; i < kids.length; i++) {
      if (kids[i].yz && kids[i].yz.info.open) open++;
    }
    var inner = el("div", "yz-cl-in");
    inner.appendChild(el("span", "", String(kids.length)));
    if (open > 0 && open < kids.length) {
      var badge = el("em", "yz-cl-badge", String(open));
      badge.title = open + " 个营业中";
      inner.appendChild(badge);
    }
    var size = kids.length < 10 ? 36 : kids.length < 100 ? 42 : 50;
    return L.divIcon({
      html: inner,
      className: "yz-cl " + (open ? "yz-cl-open" : "yz-cl-closed"),
      iconSize: L.point(size, size),
    });
  };

  // ------------------------------------------------------------------ GCJ-02 for own positions

  // GCJ-02 minus WGS84, sampled by the server (geo.crs) on a grid; bilinear in between.
  function offsetAt(lng, lat) {
    var o = cfg.offset;
    var fx = clamp((lng - o.x0) / o.step, 0, o.nx - 1.000001);
    var fy = clamp((lat - o.y0) / o.step, 0, o.ny - 1.000001);
    var i = Math.floor(fx);
    var j = Math.floor(fy);
    var tx = fx - i;
    var ty = fy - j;
    var k = j * o.nx + i;
    function bilinear(a) {
      return (
        a[k] * (1 - tx) * (1 - ty) +
        a[k + 1] * tx * (1 - ty) +
        a[k + o.nx] * (1 - tx) * ty +
        a[k + o.nx + 1] * tx * ty
      );
    }
    return [bilinear(o.dlon), bilinear(o.dlat)];
  }

  function toGcj(ll) {
    var d = offsetAt(ll.lng, ll.lat);
    return L.latLng(ll.lat + d[1], ll.lng + d[0]);
  }

  function toWgs(ll) {
    var w = L.latLng(ll.lat, ll.lng);
    for (var n = 0; n < 5; n++) {
      var d = offsetAt(w.lng, w.lat);
      w = L.latLng(ll.lat - d[1], ll.lng - d[0]);
    }
    return w;
  }

  function shown(pos) {
    return frame === "gcj02" ? pos.gcj : pos.wgs;
  }

  function setFrame(next) {
    if (next === frame) return;
    var center = map.getCenter();
    frame = next;
    map.closePopup();
    cluster.clearLayers();
    for (var i = 0; i < YZ.markers.length; i++) {
      YZ.markers[i].setLatLng(shown(YZ.markers[i].yz));
    }
    cluster.addLayers(visible);
    if (user) {
      userLayer.setLatLng(shown(user));
      userHalo.setLatLng(shown(user));
    }
    if (report) reportLayer.setLatLng(shown(report));
    // keep the same ground under the centre of the screen
    var moved = frame === "gcj02" ? toGcj(center) : toWgs(center);
    map.setView(moved, map.getZoom(), { animate: false });
  }

  // --------------------------------------------------------------------------------- helpers

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function $(id) {
    return document.getElementById(id);
  }

  function clamp(v, lo, hi) {
    return v < lo ? lo : v > hi ? hi : v;
  }

  function distanceText(m) {
    if (m === null || m === undefined || isNaN(m)) return "—";
    return m < 1000 ? Math.round(m) + " 米" : (m / 1000).toFixed(1) + " 公里";
  }

  function randomHex(bytes) {
    var a = new Uint8Array(bytes);
    window.crypto.getRandomValues(a);
    return Array.prototype.map
      .call(a, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      })
      .join("");
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return randomHex(16);
  }

  function storageGet(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function storageSet(key, value) {
    try {
      window.localStorage.setItem(key, value);
      return true;
    } catch (e) {
      return false;
    }
  }

  function reporterId() {
    var id = storageGet(REPORTER_KEY) || memoryReporter;
    if (!id) {
      id = "r-" + randomHex(12);
      if (!storageSet(REPORTER_KEY, id)) memoryReporter = id;
    }
    return id;
  }

  function navLink(url) {
    var a = el("a", "yz-nav", "导航");
    if (typeof url === "string" && url.indexOf("https://uri.amap.com/") === 0) a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  // ----------------------------------------------------------------------------- the sheet

  function setSheet(open) {
    var sheet = $("yz-sheet");
    sheet.setAttribute("data-open", open ? "true" : "false");
    $("yz-toggle").textContent = open ? "▾" : "▴";
  }

  function openTab(name) {
    activeTab = name;
    var tabs = document.querySelectorAll(".yz-tab");
    for (var i = 0; i < tabs.length; i++) {
      tabs[i].setAttribute("aria-selected", tabs[i].getAttribute("data-tab") === name);
    }
    var panes = document.querySelectorAll(".yz-pane");
    for (var j = 0; j < panes.length; j++) {
      panes[j].hidden = panes[j].getAttribute("data-pane") !== name;
    }
    setSheet(true);
  }

  function initSheet() {
    var tabs = document.querySelectorAll(".yz-tab");
    for (var i = 0; i < tabs.length; i++) {
      tabs[i].addEventListener("click", function (ev) {
        var name = ev.currentTarget.getAttribute("data-tab");
        var open = $("yz-sheet").getAttribute("data-open") === "true";
        if (open && name === activeTab) setSheet(false);
        else openTab(name);
      });
    }
    $("yz-toggle").addEventListener("click", function () {
      var open = $("yz-sheet").getAttribute("data-open") === "true";
      if (open) setSheet(false);
      else openTab(activeTab);
    });
    openTab(activeTab);
    setSheet(false);
  }

  // --------------------------------------------------------------------------------- filter

  function selectedAmenities() {
    var boxes = document.querySelectorAll('#yz-amenities input[name="amenity"]:checked');
    return Array.prototype.map.call(boxes, function (b) {
      return b.value;
    });
  }

  function applyFilter() {
    var need = selectedAmenities();
    var openOnly = $("yz-open-only").checked;
    visible = YZ.markers.filter(function (m) {
      var info = m.yz.info;
      if (openOnly && !info.open) return false;
      for (var i = 0; i < need.length; i++) {
        if (info.am.indexOf(need[i]) < 0) return false;
      }
      return true;
    });
    map.closePopup();
    cluster.clearLayers();
    cluster.addLayers(visible);
    $("yz-count").textContent = "显示 " + visible.length + " / " + cfg.total + " 个驿站";
    var n = need.length + (openOnly ? 1 : 0);
    $("yz-filter-badge").textContent = n ? String(n) : "";
    if (user) fetchNearest();
  }

  function initFilter() {
    var inputs = document.querySelectorAll("#yz-amenities input, #yz-open-only");
    for (var i = 0; i < inputs.length; i++) inputs[i].addEventListener("change", applyFilter);
    visible = YZ.markers.slice();
  }

  // ----------------------------------------------------------------- locate and nearest list

  // Find the rider once; ``say`` is the status line of the pane that asked.
  function locate(then, say) {
    if (!navigator.geolocation) {
      say("这个浏览器不能定位。", "err");
      return;
    }
    say("正在定位…");
    navigator.geolocation.getCurrentPosition(
      function (p) {
        // The Geolocation API reports WGS84.
        var wgs = L.latLng(p.coords.latitude, p.coords.longitude);
        user = { wgs: wgs, gcj: toGcj(wgs), accuracy: p.coords.accuracy || 0 };
        if (!userLayer) {
          userHalo = L.circle(shown(user), {
            radius: user.accuracy,
            interactive: false,
            color: "#1a73e8",
            weight: 1,
            fillOpacity: 0.1,
          }).addTo(map);
          userLayer = L.circleMarker(shown(user), {
            radius: 8,
            color: "#fff",
            weight: 3,
            fillColor: "#1a73e8",
            fillOpacity: 1,
            interactive: false,
          }).addTo(map);
        } else {
          userLayer.setLatLng(shown(user));
          userHalo.setLatLng(shown(user)).setRadius(user.accuracy);
        }
        if (then) then(user);
      },
      function (err) {
        var why =
          err.code === 1
            ? window.isSecureContext === false
              ? "定位需要 HTTPS 页面。"
              : "没有定位权限，请在浏览器设置里允许定位。"
            : err.code === 3
              ? "定位超时，请再试一次。"
              : "暂时无法获取位置。";
        say(why, "err");
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
    );
  }

  function locateAndList() {
    openTab("near");
    locate(function (u) {
      map.setView(shown(u), Math.max(map.getZoom(), 15), { animate: false });
      fetchNearest(true);
    }, nearStatus);
  }

  // Fit the rider and the listed stations into the part of the map the sheet leaves visible.
  function showAround(latlngs) {
    var sheet = $("yz-sheet").getBoundingClientRect();
    var covered = Math.max(0, map.getSize().y - sheet.top);
    map.fitBounds(L.latLngBounds(latlngs), {
      paddingTopLeft: [36, 90],
      paddingBottomRight: [36, covered + 36],
      maxZoom: 16,
      animate: false,
    });
  }

  function nearStatus(text, kind) {
    var p = $("yz-near-status");
    p.textContent = text;
    p.className = "yz-hint" + (kind ? " yz-" + kind : "");
  }

  function fetchNearest(fit) {
    var params = new URLSearchParams({
      lon: user.wgs.lng.toFixed(7),
      lat: user.wgs.lat.toFixed(7),
      crs: "wgs84",
      k: "3",
      open_now: "true",
    });
    selectedAmenities().forEach(function (a) {
      params.append("amenity", a);
    });
    nearStatus("正在查找最近的营业中驿站…");
    fetch("/api/stations/nearest?" + params.toString())
      .then(function (res) {
        return res.json().then(function (data) {
          if (!res.ok) throw new Error(data.detail || "HTTP " + res.status);
          return data;
        });
      })
      .then(function (data) {
        renderNearest(data);
        if (fit) {
          var pts = [shown(user)];
          (data.features || []).forEach(function (f) {
            var m = YZ.byId[f.properties.station_id];
            if (m) pts.push(shown(m.yz));
          });
          showAround(pts);
        }
      })
      .catch(function () {
        nearStatus("查询失败，请检查网络后再试。", "err");
      });
  }

  function renderNearest(data) {
    var list = $("yz-near-list");
    list.textContent = "";
    var feats = (data && data.features) || [];
    var need = selectedAmenities();
    if (!feats.length) {
      nearStatus("附近没有符合条件的营业中驿站。", "warn");
      return;
    }
    var label = need.length
      ? "（有" +
        need
          .map(function (c) {
            return cfg.amenities[c] || c;
          })
          .join("、") +
        "）"
      : "";
    nearStatus("离你最近的营业中驿站" + label + "：");
    feats.forEach(function (f) {
      var p = f.properties;
      var li = el("li", "yz-near-item");
      var main = el("div", "yz-near-main");
      var name = el("button", "yz-near-name", p.name);
      name.type = "button";
      name.addEventListener("click", function () {
        focusStation(p.station_id);
      });
      main.appendChild(name);
      var meta = el("div", "yz-near-meta");
      meta.appendChild(el("span", "yz-near-dist", distanceText(p.distance_m)));
      meta.appendChild(el("span", "yz-near-am", (p.amenity_labels || []).join(" · ")));
      main.appendChild(meta);
      li.appendChild(main);
      li.appendChild(navLink(p.nav_url));
      list.appendChild(li);
    });
  }

  function focusStation(id) {
    var marker = YZ.byId[id];
    if (!marker) return;
    if (!cluster.hasLayer(marker)) {
      cluster.addLayer(marker); // hidden by the filter: show it anyway, it was asked for
      visible.push(marker);
    }
    setSheet(false);
    cluster.zoomToShowLayer(marker, function () {
      marker.openPopup();
    });
  }

  function initLocate() {
    var Locate = L.Control.extend({
      options: { position: "topleft" },
      onAdd: function () {
        var box = L.DomUtil.create("div", "leaflet-bar yz-locate");
        var a = L.DomUtil.create("a", "", box);
        a.href = "#";
        a.title = "定位并列出最近的营业中驿站";
        a.setAttribute("role", "button");
        a.textContent = "定位";
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.on(a, "click", function (ev) {
          L.DomEvent.preventDefault(ev);
          locateAndList();
        });
        return box;
      },
    });
    new Locate().addTo(map);
    $("yz-near-locate").addEventListener("click", locateAndList);
  }

  // ------------------------------------------------------------------------- hazard reports

  function reportStatus(text, kind) {
    var p = $("yz-report-msg");
    p.textContent = text || "";
    p.className = "yz-msg" + (kind ? " yz-" + kind : "");
  }

  function setReportPos(pos, how) {
    report = pos;
    reportHow = how;
    if (!reportLayer) {
      reportLayer = L.circleMarker(shown(pos), {
        radius: 9,
        color: "#fff",
        weight: 3,
        fillColor: "#d93025",
        fillOpacity: 1,
        interactive: false,
      }).addTo(map);
    } else {
      reportLayer.setLatLng(shown(pos)).addTo(map);
    }
    $("yz-pos-text").textContent =
      "位置：" + pos.wgs.lat.toFixed(5) + ", " + pos.wgs.lng.toFixed(5) + "（" + how + "）";
  }

  function clearReportPos() {
    report = null;
    if (reportLayer) map.removeLayer(reportLayer);
    $("yz-pos-text").textContent = "位置：请在地图上点选";
  }

  function loadCategories() {
    var select = $("yz-cat");
    fetch("/api/categories")
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (rows) {
        select.textContent = "";
        var first = el("option", "", "请选择类别");
        first.value = "";
        select.appendChild(first);
        rows.forEach(function (r) {
          var text = r.name + (r.examples ? "（" + r.examples + "）" : "");
          var opt = el("option", "", text);
          opt.value = r.code;
          select.appendChild(opt);
        });
        select.setAttribute("data-loaded", "true");
      })
      .catch(function () {
        select.textContent = "";
        var opt = el("option", "", "类别加载失败，联网后自动重试");
        opt.value = "";
        select.appendChild(opt);
      });
  }

  function loadQueue() {
    var raw = storageGet(QUEUE_KEY);
    if (raw === null) return memoryQueue.slice();
    try {
      var q = JSON.parse(raw);
      return Array.isArray(q) ? q : [];
    } catch (e) {
      return [];
    }
  }

  function saveQueue(q) {
    if (!storageSet(QUEUE_KEY, JSON.stringify(q))) memoryQueue = q.slice();
  }

  function dequeue(key) {
    saveQueue(
      loadQueue().filter(function (item) {
        return item.key !== key;
      }),
    );
  }

  function showPending() {
    var n = loadQueue().length;
    $("yz-pending").textContent = n ? "待发送 " + n + " 条上报，联网后自动重试。" : "";
  }

  function showResult(tip, fresh) {
    reportStatus(
      (fresh ? "已上报，谢谢！" : "之前保存的上报已补发成功。") + "编号 " + tip.tip_id,
      "ok",
    );
    var box = $("yz-report-result");
    box.textContent = "";
    var dl = el("dl", "yz-result-dl");
    function row(k, v) {
      dl.appendChild(el("dt", "", k));
      dl.appendChild(el("dd", "", v === null || v === undefined || v === "" ? "—" : v));
    }
    var station = tip.nearest_station_id && YZ.byId[tip.nearest_station_id];
    var subName = cfg.subdistricts[tip.subdistrict_code];
    row("类别", tip.category_name || tip.category);
    if (tip.description) row("描述", tip.description);
    row("网格", tip.grid_code);
    row("街道", tip.subdistrict_code ? (subName ? subName + "（" + tip.subdistrict_code + "）" : tip.subdistrict_code) : null);
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

  // Send one queued report. It stays queued (same Idempotency-Key) unless the server answered
  // for good: stored (201) or refused as invalid (4xx other than 408/429). ``fresh`` is set
  // for a report just submitted from the form ({pos, how}), null for a retry.
  function send(item, fresh) {
    if (inFlight[item.key]) return Promise.resolve("busy");
    inFlight[item.key] = true;
    return fetch("/api/tips", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": item.key },
      body: JSON.stringify(item.body),
    })
      .then(
        function (res) {
          return res
            .json()
            .catch(function () {
              return {};
            })
            .then(function (data) {
              return { res: res, data: data };
            });
        },
        function () {
          return null; // network failure
        },
      )
      .then(function (answer) {
        delete inFlight[item.key];
        var status = answer ? answer.res.status : 0;
        if (answer && answer.res.ok) {
          dequeue(item.key);
          showResult(answer.data, fresh);
          showPending();
          return "sent";
        }
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
          dequeue(item.key);
          var detail = (answer.data && answer.data.detail) || "HTTP " + status;
          if (fresh) {
            // give the rider the report back to correct it
            $("yz-desc").value = item.body.description;
            if (fresh.pos) setReportPos(fresh.pos, fresh.how);
            reportStatus("提交失败，内容或位置不符合要求：" + detail, "err");
          } else {
            reportStatus("一条保存的上报被拒绝（" + item.body.description + "）：" + detail, "err");
          }
          showPending();
          return "refused";
        }
        if (fresh) {
          reportStatus(status ? "已保存，稍后自动重试" : "已保存，联网后自动重试", "warn");
        }
        showPending();
        return "kept";
      });
  }

  function retryPending() {
    var queue = loadQueue();
    showPending();
    return Promise.all(
      queue.map(function (item) {
        return send(item, null);
      }),
    );
  }
  YZ.retryPending = retryPending;

  function submitReport(ev) {
    ev.preventDefault();
    var category = $("yz-cat").value;
    if (!category) {
      reportStatus("请选择类别。", "err");
      return;
    }
    if (!report) {
      reportStatus("请先在地图上点选位置，或点“用我的位置”。", "err");
      return;
    }
    var item = {
      key: newKey(),
      saved_at: new Date().toISOString(),
      body: {
        lon: report.post.lon,
        lat: report.post.lat,
        crs: report.post.crs,
        category: category,
        description: $("yz-desc").value.trim(),
        reporter_id: reporterId(),
      },
    };
    var queue = loadQueue();
    queue.push(item); // saved before it is sent: a lost connection loses nothing
    saveQueue(queue);
    var draft = { pos: report, how: reportHow };
    $("yz-desc").value = "";
    clearReportPos();
    $("yz-report-result").textContent = "";
    reportStatus("正在提交…");
    send(item, draft);
  }

  function initReport() {
    loadCategories();
    $("yz-report").addEventListener("submit", submitReport);
    $("yz-pos-gps").addEventListener("click", function () {
      locate(function (u) {
        reportStatus("");
        setReportPos(
          { post: { lon: u.wgs.lng, lat: u.wgs.lat, crs: "wgs84" }, wgs: u.wgs, gcj: u.gcj },
          "我的位置",
        );
        map.setView(shown(u), Math.max(map.getZoom(), 16));
      }, reportStatus);
    });
    map.on("click", function (ev) {
      if (activeTab !== "report") return;
      // A tap gives coordinates in the datum of the basemap under it: GCJ-02 on Gaode.
      var ll = ev.latlng.wrap();
      var pos =
        frame === "gcj02"
          ? { post: { lon: ll.lng, lat: ll.lat, crs: "gcj02" }, gcj: ll, wgs: toWgs(ll) }
          : { post: { lon: ll.lng, lat: ll.lat, crs: "wgs84" }, wgs: ll, gcj: toGcj(ll) };
      setReportPos(pos, "地图点选");
      setSheet(true);
    });
    window.addEventListener("online", function () {
      retryPending();
      if ($("yz-cat").getAttribute("data-loaded") !== "true") loadCategories();
    });
    window.setInterval(retryPending, RETRY_MS);
    retryPending();
  }

  // ----------------------------------------------------------------------------------- init

  YZ.init = function (config, refs) {
    cfg = config;
    YZ.config = config;
    map = refs.map;
    cluster = refs.cluster;
    gaode = refs.gaode;
    YZ.map = map;
    YZ.cluster = cluster;
    YZ.toGcj = toGcj;
    YZ.toWgs = toWgs;
    YZ.frame = function () {
      return frame;
    };
    YZ.shownPositions = function () {
      return {
        user: user ? userLayer.getLatLng() : null,
        report: report ? reportLayer.getLatLng() : null,
      };
    };
    map.attributionControl.setPrefix("Leaflet");
    initSheet();
    initFilter();
    initLocate();
    initReport();
    map.on("baselayerchange", function (ev) {
      setFrame(gaode && ev.layer === gaode ? "gcj02" : "wgs84");
    });
    if (gaode && map.hasLayer(gaode)) setFrame("gcj02");
  };
})();
