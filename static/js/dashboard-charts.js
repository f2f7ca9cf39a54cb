// Draws the dashboard's charts with the vendored uPlot. Each chart is a
// <div data-chart data-chart-source="ID"> whose data sits in <script type="application/json" id="ID">
// (Django's json_script): {"x": [unix seconds...], "series": [{"label", "status", "values": [...]}]}.
// The same numbers are in a table next to the chart, so nothing is lost without script.
(function () {
  "use strict";
  var COLOURS = {queued: "#6c757d", running: "#0d6efd", succeeded: "#198754", failed: "#dc3545", cancelled: "#b58100"};

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function options(el, data) {
    var text = cssVar("--bs-body-color", "#212529");
    var grid = cssVar("--bs-border-color", "#dee2e6");
    var axis = {stroke: text, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}};
    return {
      width: Math.max(el.clientWidth, 200),
      height: 220,
      scales: {x: {time: true}, y: {range: function (u, min, max) { return [0, Math.max(max, 1)]; }}},
      axes: [axis, Object.assign({}, axis, {size: 40})],
      series: [{}].concat(data.series.map(function (s) {
        var colour = COLOURS[s.status] || text;
        return {label: s.label, stroke: colour, width: 2, points: {show: false}};
      })),
      legend: {show: true},
    };
  }

  function draw(el) {
    var source = document.getElementById(el.dataset.chartSource);
    if (!source || typeof uPlot === "undefined") return;
    var data = JSON.parse(source.textContent);
    var plot = new uPlot(options(el, data), [data.x].concat(data.series.map(function (s) { return s.values; })), el);
    var resize = function () { plot.setSize({width: Math.max(el.clientWidth, 200), height: 220}); };
    window.addEventListener("resize", resize);
  }

  function start() { document.querySelectorAll("[data-chart]").forEach(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
