/* 规划地图 (maps/planning.py): station markers, the heatmap's month and category filter, gap
 * ranks and suggested sites. Text from the data is put on the page with textContent only. */
(function () {
  "use strict";

  var YZP = (window.YZP = {});
  var STATION_PANE = "yzpStations";
  var PLAY_MS = 1200;
  var HEAT_QUANTILE = 0.98; // the heat saturates (red) above this share of the busiest spots
  var NEIGHBOURS = 1; // cells on each side summed with a cell for the heat's maximum
  // canvas alpha composites as 1 - (1 - a1)(1 - a2)..., not a1 + a2 + ...: half the sum reaches red
  var HEAT_SHARE = 0.5;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // A small table (label, value) as DOM nodes, for tooltips and popups.
  function details(title, rows) {
    var box = el("div", "yzp-pop");
    if (title) box.appendChild(el("b", "yzp-pop-title", title));
    var dl = el("dl");
    rows.forEach(function (row) {
      dl.appendChild(el("dt", null, row[0]));
      dl.appendChild(el("dd", null, row[1]));
    });
    box.appendChild(dl);
    return box;
  }

  // ---------------------------------------------------------------------------------- stations

  YZP.stations = function (map, group, rows) {
    if (!map.getPane(STATION_PANE)) map.createPane(STATION_PANE).style.zIndex = 650;
    rows.forEach(function (r) {
      var marker = L.circleMarker([r[0], r[1]], {
        pane: STATION_PANE,
        radius: 5,
        weight: 1.5,
        color: "#ffffff",
        fillColor: r[2] ? "#188038" : "#9aa0a6",
        fillOpacity: 1,
        className: "yzp-st " + (r[2] ? "yzp-st-open" : "yzp-st-closed"),
      });
      marker.bindTooltip(details(r[4], [["编号", r[3]], ["状态", r[5]]]), {
        className: "yzp-tip",
      });
      group.addLayer(marker);
    });
  };

  // ----------------------------------------------------------------------------------- heatmap

  // Leaflet.heat as folium ships it (0.2.0 with its weights fix) ignores the `max` option and
  // scales every redraw to its busiest spot. The page picks its own maximum (heatMax below), so
  // the layer's simpleheat canvas is held at it, and spots above it are drawn at full heat.
  function holdMaximum(heat, maximum) {
    var canvas = heat._heat;
    var setMax = canvas.max;
    var setData = canvas.data;
    canvas.max = function () {
      return setMax.call(this, maximum());
    };
    canvas.data = function (points) {
      var top = maximum();
      for (var i = 0; i < points.length; i++) {
        if (points[i][2] > top) points[i][2] = top;
      }
      return setData.call(this, points);
    };
  }

  YZP.heatmap = function (cfg, refs) {
    var map = (YZP.map = refs.map);
    var heat = (YZP.heat = refs.heat);
    subdistricts(cfg, refs.subdistricts);
    YZP.stations(map, refs.stations, cfg.stations);

    var npos = cfg.x.length;
    var ncat = cfg.cats.length;
    var nkeys = Math.max(cfg.months.length * ncat, 1);
    var lat = new Float64Array(npos);
    var lng = new Float64Array(npos);
    for (var i = 0; i < npos; i++) {
      lng[i] = (cfg.x0 + cfg.x[i]) / cfg.scale;
      lat[i] = (cfg.y0 + cfg.y[i]) / cfg.scale;
    }
    // one entry per (position, key) with a count: position, key and count arrays
    var rowPos = [];
    var rowKey = [];
    var rowN = [];
    if (cfg.dense) {
      for (var j = 0; j < cfg.n.length; j++) {
        if (cfg.n[j] > 0) {
          rowPos.push(Math.floor(j / nkeys));
          rowKey.push(j % nkeys);
          rowN.push(cfg.n[j]);
        }
      }
    } else {
      var at = 0;
      for (var p = 0; p < npos; p++) {
        for (var q = 0; q < cfg.r[p]; q++, at++) {
          rowPos.push(p);
          rowKey.push(cfg.k[at]);
          rowN.push(cfg.n[at]);
        }
      }
    }

    var state = { month: -1, cats: cfg.cats.map(function () { return true; }) };
    var refZoom = map.getZoom();
    var playing = null;
    var maximum = 1; // heatMax of the points shown, at refZoom
    holdMaximum(heat, function () {
      // zoomed out past refZoom a spot counts half per level, as in Leaflet.heat's `maxZoom`
      return maximum * Math.pow(2, Math.max(0, Math.min(refZoom - map.getZoom(), 12)));
    });

    // Like leaflet.heat, sum the points into cells of half the radius at the reference zoom.
    // Overlapping blurred circles add up on the canvas, so the heat's maximum is a high quantile
    // of the sums over each cell's neighbourhood (the cells a circle's core reaches), not of the
    // single cells: dense data (every cell filled) then shows its peaks instead of one red blob.
    function heatMax(points) {
      var size = cfg.radius / 2;
      var cells = {};
      points.forEach(function (pt) {
        var xy = map.project([pt[0], pt[1]], refZoom);
        var key = Math.floor(xy.x / size) + ":" + Math.floor(xy.y / size);
        cells[key] = (cells[key] || 0) + pt[2];
      });
      var sums = Object.keys(cells).map(function (key) {
        var at = key.split(":");
        var x = Number(at[0]);
        var y = Number(at[1]);
        var sum = 0;
        for (var dx = -NEIGHBOURS; dx <= NEIGHBOURS; dx++) {
          for (var dy = -NEIGHBOURS; dy <= NEIGHBOURS; dy++) {
            sum += cells[x + dx + ":" + (y + dy)] || 0;
          }
        }
        return sum;
      });
      if (!sums.length) return 1;
      sums.sort(function (a, b) { return a - b; });
      return Math.max(HEAT_SHARE * sums[Math.floor(HEAT_QUANTILE * (sums.length - 1))], 1);
    }

    function recompute() {
      var weight = new Float64Array(npos);
      var perCat = new Float64Array(ncat);
      var total = 0;
      for (var j = 0; j < rowPos.length; j++) {
        var key = rowKey[j];
        var c = key % ncat;
        if (state.month >= 0 && Math.floor(key / ncat) !== state.month) continue;
        perCat[c] += rowN[j];
        if (!state.cats[c]) continue;
        weight[rowPos[j]] += rowN[j];
        total += rowN[j];
      }
      var points = [];
      for (var i = 0; i < npos; i++) {
        if (weight[i] > 0) points.push([lat[i], lng[i], weight[i]]);
      }
      maximum = heatMax(points);
      heat.setLatLngs(points);
      YZP.points = points.length;
      YZP.total = total;
      document.getElementById("yzp-total").textContent = String(total);
      document.querySelectorAll(".yzp-n[data-cat]").forEach(function (span) {
        span.textContent = String(perCat[Number(span.getAttribute("data-cat"))]);
      });
      var label = "全部月份";
      document.querySelectorAll(".yzp-month").forEach(function (b) {
        var on = Number(b.getAttribute("data-month")) === state.month;
        b.setAttribute("aria-pressed", on ? "true" : "false");
        if (on && state.month >= 0) label = b.getAttribute("title");
      });
      document.getElementById("yzp-month-label").textContent = label;
    }

    YZP.setMonth = function (index) {
      state.month = index;
      recompute();
    };

    YZP.setCategories = function (on) {
      state.cats = on.slice();
      document.querySelectorAll("#yzp-cats input").forEach(function (box, c) {
        box.checked = !!state.cats[c];
      });
      recompute();
    };

    function stopPlaying() {
      if (playing === null) return;
      clearInterval(playing);
      playing = null;
      document.getElementById("yzp-play").textContent = "▶ 逐月播放";
    }

    document.querySelectorAll(".yzp-month").forEach(function (button) {
      button.addEventListener("click", function () {
        stopPlaying();
        YZP.setMonth(Number(button.getAttribute("data-month")));
      });
    });
    document.getElementById("yzp-play").addEventListener("click", function () {
      if (playing !== null) {
        stopPlaying();
        return;
      }
      this.textContent = "■ 停止";
      YZP.setMonth(0);
      playing = setInterval(function () {
        if (state.month >= cfg.months.length - 1) {
          stopPlaying();
          return;
        }
        YZP.setMonth(state.month + 1);
      }, PLAY_MS);
    });
    document.querySelectorAll("#yzp-cats input").forEach(function (box, c) {
      box.addEventListener("change", function () {
        state.cats[c] = box.checked;
        recompute();
      });
    });
    function all(on) {
      return function (event) {
        event.preventDefault();
        YZP.setCategories(cfg.cats.map(function () { return on; }));
      };
    }
    document.getElementById("yzp-all").addEventListener("click", all(true));
    document.getElementById("yzp-none").addEventListener("click", all(false));

    recompute();
    YZP.ready = true;
  };

  // ---------------------------------------------------------------------------------- polygons

  // maps/planning.py encode_polygons: per polygon, rings of 1e-5 degree integers, the first
  // vertex relative to the city's south-west corner, the rest differences.
  function latLngs(shape, cfg) {
    return shape.map(function (polygon) {
      return polygon.map(function (ring) {
        var x = cfg.origin[0];
        var y = cfg.origin[1];
        var out = new Array(ring.length / 2);
        for (var i = 0; i < ring.length; i += 2) {
          x += ring[i];
          y += ring[i + 1];
          out[i / 2] = [y / cfg.scale, x / cfg.scale];
        }
        return out;
      });
    });
  }

  function metres(d) {
    return d === null ? "不可达" : Math.round(d) + " 米";
  }

  function stationName(cfg, i) {
    if (i < 0) return "—";
    var r = cfg.stations[i];
    return r[4] + "（" + r[3] + "）";
  }

  // One polygon per cell of a table from _cell_table, with a hover tooltip and highlight.
  function cellLayers(cfg, table, group, style, extraRows) {
    table.shape.forEach(function (shape, i) {
      var base = style(i);
      var poly = L.polygon(latLngs(shape, cfg), base);
      var rows = [
        ["网格名称", table.name[i]],
        ["网格代码", table.code[i]],
        ["距离", metres(table.dist[i])],
        ["最近驿站", stationName(cfg, table.station[i])],
        ["需求", table.demand[i]],
      ];
      poly.bindTooltip(details(null, extraRows ? extraRows(i).concat(rows) : rows), {
        className: "yzp-tip",
        sticky: true,
      });
      poly.on("mouseover", function () {
        poly.setStyle({ weight: 2.5, color: "#202124" });
      });
      poly.on("mouseout", function () {
        poly.setStyle(base);
      });
      group.addLayer(poly);
    });
  }

  // Subdistrict (街道) outlines with their names, under everything else.
  function subdistricts(cfg, group) {
    var table = cfg.subdistricts;
    table.shape.forEach(function (shape, i) {
      group.addLayer(
        L.polygon(latLngs(shape, cfg), {
          fill: false,
          color: "#3c4043",
          weight: 2,
          opacity: 0.6,
          dashArray: "6 4",
          interactive: false,
          className: "yzp-subdistrict",
        })
      );
      group.addLayer(
        L.marker(table.at[i], {
          icon: L.divIcon({
            className: "yzp-sublabel",
            iconSize: null,
            html: el("span", null, table.name[i]),
          }),
          interactive: false,
          keyboard: false,
        })
      );
    });
  }

  // ---------------------------------------------------------------------------------- coverage

  YZP.coverage = function (cfg, refs) {
    var map = (YZP.map = refs.map);
    var cells = cfg.cells;
    cellLayers(cfg, cells, refs.cells, function (i) {
      return {
        fillColor: cfg.colours[cells.band[i]],
        fillOpacity: 0.6,
        color: "#ffffff",
        weight: 0.4,
        className: "yzp-cell yzp-band-" + cells.band[i],
      };
    });
    cfg.catchments.shape.forEach(function (shape, i) {
      var outline = L.polygon(latLngs(shape, cfg), {
        fill: false,
        color: "#202124",
        weight: 1.2,
        opacity: 0.75,
        className: "yzp-catchment",
      });
      var label = stationName(cfg, cfg.catchments.station[i]);
      outline.bindTooltip(details(null, [["服务范围", label]]), {
        className: "yzp-tip",
        sticky: true,
      });
      refs.catchments.addLayer(outline);
    });
    subdistricts(cfg, refs.subdistricts);
    YZP.stations(map, refs.stations, cfg.stations);
    YZP.ready = true;
  };

  // -------------------------------------------------------------------------------------- gaps

  YZP.gaps = function (cfg, refs) {
    var map = (YZP.map = refs.map);
    var ranked = cfg.ranked;
    subdistricts(cfg, refs.subdistricts);
    cfg.uncovered.shape.forEach(function (shape) {
      refs.uncovered.addLayer(
        L.polygon(latLngs(shape, cfg), {
          fillColor: "#f28b82",
          fillOpacity: 0.3,
          color: "#f28b82",
          weight: 0.4,
          interactive: false,
          className: "yzp-uncovered",
        })
      );
    });
    cellLayers(
      cfg,
      ranked,
      refs.ranked,
      function () {
        return {
          fillColor: "#c5221f",
          fillOpacity: 0.55,
          color: "#7f0000",
          weight: 1.5,
          className: "yzp-gap",
        };
      },
      function (i) {
        return [
          ["缺口排名", ranked.rank[i]],
          ["街道", ranked.sub[i]],
          ["缺口得分", ranked.score[i]],
        ];
      }
    );
    ranked.at.forEach(function (at, i) {
      refs.ranked.addLayer(
        L.marker(at, {
          icon: L.divIcon({
            className: "yzp-rank",
            iconSize: [22, 22],
            html: String(ranked.rank[i]),
          }),
          interactive: false,
          keyboard: false,
        })
      );
    });
    if (refs.sites) {
      cfg.sites.forEach(function (s) {
        var icon = L.divIcon({
          className: "yzp-site",
          iconSize: [30, 30],
          html: "<span>★</span><sub>" + Number(s.rank) + "</sub>",
        });
        var marker = L.marker(s.at, {
          icon: icon,
          title: "建议新站点 " + s.rank,
          riseOnHover: true,
          zIndexOffset: 1000,
        });
        marker.bindPopup(
          details("建议新站点 " + s.rank, [
            ["新增覆盖需求", s.added],
            ["所在网格", s.cell],
            ["所在街道", s.sub],
            ["最近道路", s.street],
            ["位置", s.at[1].toFixed(5) + ", " + s.at[0].toFixed(5)],
          ]),
          { className: "yzp-popup", minWidth: 220 }
        );
        marker.on("add", function () {
          marker.getElement().setAttribute("data-site", String(s.rank));
        });
        if (cfg.radius_m) {
          refs.sites.addLayer(
            L.circle(s.at, {
              radius: cfg.radius_m,
              color: "#1a73e8",
              weight: 1.5,
              dashArray: "5 5",
              fill: false,
              interactive: false,
            })
          );
        }
        refs.sites.addLayer(marker);
      });
    }
    YZP.stations(map, refs.stations, cfg.stations);
    YZP.ready = true;
  };
})();
