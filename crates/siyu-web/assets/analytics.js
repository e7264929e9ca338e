// siyu console analytics: draws each [data-chart] element with the vendored ECharts. The server
// renders the numbers (the same ones as the page's table) into the attribute as JSON, so this file
// holds no data and the page needs no inline script (the console's CSP forbids them).
(function () {
  "use strict";
  if (!window.echarts) return;

  var BRAND = ["#1664ff", "#3d7eff", "#5b8cff", "#22c1a4", "#12a37f", "#0e8f6e", "#f5a623", "#e8684a"];
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

  var charts = [];
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
    var chart = echarts.init(element, null, { renderer: "canvas", locale: locale });
    // Tests and screenshots wait for this mark: set once the first rendering (and its animation) is done.
    chart.on("finished", function () {
      element.setAttribute("data-chart-ready", "true");
    });
    chart.setOption(spec.type === "funnel" ? funnelOption(spec) : heatmapOption(spec));
    charts.push(chart);
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
