// siyu console analytics: draws each [data-chart] element with the vendored ECharts. The server
// renders the numbers (the same ones as the page's table) into the attribute as JSON, so this file
// holds no data and the page needs no inline script (the console's CSP forbids them).
(function () {
  "use strict";
  if (!window.echarts) return;

  var BRAND = ["#1664ff", "#3d7eff", "#5b8cff", "#22c1a4", "#12a37f", "#0e8f6e", "#f5a623", "#e8684a"];
  // Lines and Sankey nodes need colours told apart at a glance, not shades of the brand blue.
  var SERIES = ["#1664ff", "#f5a623", "#12a37f", "#e8684a", "#8a5cf6", "#22c1a4", "#d4458c", "#5b8cff", "#9c6b30",
    "#646a73"];
  var HEAT = ["#f3f7ff", "#c9dcff", "#8fb4ff", "#5b8cff", "#1664ff", "#0e3fa8"];
  var TEXT = "#1f2329";
  var MUTED = "#646a73";

  function funnelOption(spec) {
    return {
      color: BRAND,
      tooltip: {
        trigger: "item",
        formatter: function (p) {
          return echarts.format.encodeHTML(p.name) + "<br>" + spec.series + ": <b>" + p.value + "</b> (" + p.data.rate + ")";
        }
      },
      series: [{
        name: spec.series,
        type: "funnel",
        sort: "none",
        left: "8%", right: "8%", top: 16, bottom: 16,
        minSize: "8%",
        gap: 3,
        label: {
          show: true, position: "inside", color: "#fff", lineHeight: 18,
          formatter: function (p) { return p.name + "\n" + p.value + " · " + p.data.rate; }
        },
        itemStyle: { borderColor: "#fff", borderWidth: 1 },
        data: spec.data
      }]
    };
  }

  function heatmapOption(spec) {
    var unit = spec.percent ? "%" : "";
    var labels = spec.x.length <= 16 && spec.y.length <= 40;
    return {
      tooltip: {
        position: "top",
        formatter: function (p) {
          var v = p.value;
          return echarts.format.encodeHTML(spec.y[v[1]] + " · " + spec.x[v[0]]) + "<br>" + spec.series + ": <b>" + v[2] + unit + "</b>";
        }
      },
      grid: { left: 24, right: 16, top: 48, bottom: 56, containLabel: true },
      xAxis: {
        type: "category", data: spec.x, name: spec.x_name, nameLocation: "middle", nameGap: 30,
        position: "top", splitArea: { show: false }, axisLabel: { color: MUTED }, nameTextStyle: { color: TEXT }
      },
      yAxis: {
        type: "category", data: spec.y, name: spec.y_name, nameLocation: "middle", nameGap: spec.percent ? 84 : 36,
        inverse: spec.percent,
        splitArea: { show: false }, axisLabel: { color: MUTED }, nameTextStyle: { color: TEXT }
      },
      visualMap: {
        min: 0, max: spec.max, calculable: true, orient: "horizontal", left: "center", bottom: 0,
        itemHeight: 160, inRange: { color: HEAT }, formatter: function (v) { return Math.round(v) + unit; }
      },
      series: [{
        name: spec.series,
        type: "heatmap",
        data: spec.cells,
        label: {
          show: labels,
          formatter: function (p) { return p.value[2] + unit; },
          fontSize: 11
        },
        emphasis: { itemStyle: { shadowBlur: 6, shadowColor: "rgba(0, 0, 0, .3)" } }
      }]
    };
  }

  // Writes an amount as the server does (prefix, thousands separators, fixed decimals).
  function money(format, value) {
    var text = Math.abs(value).toFixed(format.decimals);
    var parts = text.split(".");
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var sign = value < 0 && /[1-9]/.test(text) ? "-" : "";
    return sign + format.prefix + whole + (parts.length > 1 ? "." + parts[1] : "");
  }

  // A line chart of one measure (the spec may carry several, e.g. counts and distinct customers).
  function lineOption(spec, measure) {
    var format = function (value) {
      return spec.money ? money(spec.money, value) : String(value);
    };
    var few = spec.x.length <= 45;
    // A long range gets a zoom slider; the wheel and drag zoom too.
    var zoom = spec.x.length > 60;
    return {
      color: SERIES,
      tooltip: { trigger: "axis", valueFormatter: format },
      legend: { top: 0, type: "scroll", textStyle: { color: MUTED } },
      grid: { left: 16, right: 40, top: 40, bottom: zoom ? 52 : 12, containLabel: true },
      dataZoom: zoom ? [{ type: "inside" }, { type: "slider", height: 20, bottom: 8 }] : [],
      xAxis: {
        type: "category", data: spec.x, boundaryGap: false,
        axisLabel: { color: MUTED, hideOverlap: true }, axisLine: { lineStyle: { color: "#d0d3d9" } }
      },
      yAxis: {
        type: "value", minInterval: spec.money ? 0 : 1,
        axisLabel: { color: MUTED, formatter: function (value) { return spec.money ? spec.money.prefix + value : value; } },
        splitLine: { lineStyle: { color: "#eef0f3" } }
      },
      series: lineSeries(spec, measure, few)
    };
  }

  // The series of one measure. Buckets from `partial_from` on are not over yet: each line is drawn
  // solid up to the last complete bucket and dashed from there (a second series of the same name and
  // colour, so the legend toggles both and the tooltip shows the value once).
  function lineSeries(spec, measure, few) {
    var cut = spec.partial_from;
    var out = [];
    spec.measures[measure].series.forEach(function (line, i) {
      var colour = SERIES[i % SERIES.length];
      var partial = typeof cut === "number" && cut > 0 && cut < line.data.length;
      out.push({
        name: line.name, type: "line", showSymbol: few, symbolSize: 5, color: colour,
        data: partial ? line.data.map(function (v, j) { return j < cut ? v : null; }) : line.data,
        lineStyle: { width: 2 }, areaStyle: spec.money ? { opacity: 0.12 } : undefined
      });
      if (partial) {
        out.push({
          name: line.name, type: "line", showSymbol: true, symbolSize: 5, color: colour,
          data: line.data.map(function (v, j) { return j >= cut - 1 ? v : null; }),
          lineStyle: { width: 2, type: "dashed" }, tooltip: { show: false },
          areaStyle: spec.money ? { opacity: 0.05 } : undefined
        });
      }
    });
    return out;
  }

  // Paths as a Sankey diagram; node names carry their step, so the server's graph has no cycle.
  function sankeyOption(spec) {
    var encode = echarts.format.encodeHTML;
    // One colour per event, whichever step it is met at (node names are "step · event").
    var colours = {};
    var nodes = spec.nodes.map(function (node) {
      var event = node.name.slice(node.name.indexOf(" · ") + 3);
      if (!(event in colours)) colours[event] = SERIES[Object.keys(colours).length % SERIES.length];
      return { name: node.name, depth: node.depth, itemStyle: { color: colours[event] } };
    });
    return {
      tooltip: {
        trigger: "item",
        formatter: function (p) {
          var what = p.dataType === "edge" ? encode(p.data.source) + " → " + encode(p.data.target) : encode(p.name);
          return what + "<br>" + spec.series + ": <b>" + p.value + "</b>";
        }
      },
      series: [{
        type: "sankey",
        left: 16, right: 170, top: 12, bottom: 12,
        nodeAlign: spec.align, nodeWidth: 14, nodeGap: 12, draggable: false,
        layoutIterations: 32,
        emphasis: { focus: "adjacency" },
        label: { color: TEXT, fontSize: 12 },
        lineStyle: { color: "gradient", curveness: 0.5, opacity: 0.35 },
        data: nodes,
        links: spec.links
      }]
    };
  }

  // A distribution: one bar per group (stages, tiers, classes, health bands, value tenths).
  function barOption(spec) {
    return {
      color: BRAND,
      tooltip: { trigger: "axis" },
      grid: { left: 16, right: 16, top: 16, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: spec.x, axisLabel: { color: MUTED, interval: 0, rotate: spec.x.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", axisLabel: { color: MUTED } },
      series: [{ name: spec.series, type: "bar", data: spec.values, barMaxWidth: 48, label: { show: spec.x.length <= 10, position: "top", color: TEXT } }]
    };
  }

  // A segment's daily sizes: a small line without axes (list) or with them (detail).
  function sparkOption(spec, axes) {
    return {
      color: BRAND,
      tooltip: { trigger: "axis" },
      grid: axes ? { left: 16, right: 16, top: 16, bottom: 8, containLabel: true } : { left: 2, right: 2, top: 4, bottom: 4 },
      xAxis: { type: "category", data: spec.x, show: axes, axisLabel: { color: MUTED } },
      yAxis: { type: "value", show: axes, scale: true, axisLabel: { color: MUTED } },
      series: [{ name: spec.series || "", type: "line", data: spec.values, showSymbol: axes || spec.values.length < 2, areaStyle: { opacity: 0.12 } }]
    };
  }

  function option(spec, measure) {
    switch (spec.type) {
      case "bar": return barOption(spec);
      case "spark": return sparkOption(spec, false);
      case "line_simple": return sparkOption(spec, true);
      case "funnel": return funnelOption(spec);
      case "line": return lineOption(spec, measure);
      case "sankey": return sankeyOption(spec);
      default: return heatmapOption(spec);
    }
  }

  // The tallest column of a Sankey diagram sets its height, so eight flows a step stay legible.
  function sankeyHeight(spec) {
    var perColumn = {};
    var tallest = 1;
    spec.nodes.forEach(function (node) {
      perColumn[node.depth] = (perColumn[node.depth] || 0) + 1;
      tallest = Math.max(tallest, perColumn[node.depth]);
    });
    return Math.max(360, Math.min(900, tallest * 52 + 40));
  }

  var charts = [];
  var byId = {};
  var locale = document.body.getAttribute("data-lang") === "zh" ? "ZH" : "EN";
  document.querySelectorAll("[data-chart]").forEach(function (element) {
    var spec;
    try {
      spec = JSON.parse(element.getAttribute("data-chart"));
    } catch (error) {
      return;
    }
    if (spec.type === "heatmap" && spec.percent) {
      // One row per cohort: a long history gets a taller chart instead of squeezed rows.
      element.style.height = Math.max(320, Math.min(1600, spec.y.length * 26 + 120)) + "px";
    }
    if (spec.type === "sankey") {
      element.style.height = sankeyHeight(spec) + "px";
    }
    var chart = echarts.init(element, null, { renderer: "canvas", locale: locale });
    // Tests and screenshots wait for this mark: set once the first rendering (and its animation) is done.
    chart.on("finished", function () {
      element.setAttribute("data-chart-ready", "true");
    });
    chart.setOption(option(spec, 0));
    charts.push(chart);
    if (element.id) byId[element.id] = { chart: chart, spec: spec };
  });

  // Measure toggles (e.g. counts or distinct customers) redraw their chart's lines.
  document.querySelectorAll("[data-measures-for]").forEach(function (group) {
    var target = byId[group.getAttribute("data-measures-for")];
    if (!target) return;
    group.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-measure]");
      if (!button) return;
      var measure = Number(button.getAttribute("data-measure"));
      group.querySelectorAll("button[data-measure]").forEach(function (other) {
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
      });
      target.chart.setOption(option(target.spec, measure), { replaceMerge: ["series"] });
    });
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
