// Draws the dashboard's charts with the vendored uPlot. Each chart is a
// <div data-chart data-chart-source="ID"> whose data sits in <script type="application/json" id="ID">
// (Django's json_script): {"x": [unix seconds...], "series": [{"label", "status", "values": [...]}]}.
// Drawn as stacked bars per hour; the same numbers are in a table next to the chart.
(function () {
  "use strict";
  var COLOURS = {queued: "#6c757d", running: "#0d6efd", succeeded: "#198754", failed: "#dc3545", cancelled: "#d39e00"};
  var HEIGHT = 220;

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  // Series i is drawn as the sum of series i..n-1, tallest first: each bar's visible top part is its own count.
  function stack(series) {
    var sums = series.map(function (s) { return s.values.slice(); });
    for (var i = sums.length - 2; i >= 0; i--) {
      for (var j = 0; j < sums[i].length; j++) sums[i][j] += sums[i + 1][j];
    }
    return sums;
  }

  function options(el, data) {
    var text = cssVar("--bs-body-color", "#212529");
    var grid = cssVar("--bs-border-color", "#dee2e6");
    var axis = {stroke: text, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}};
    var bars = uPlot.paths.bars({size: [0.8, 40]});
    return {
      width: Math.max(el.clientWidth, 200),
      height: HEIGHT,
      scales: {
        // Half an hour of room each side, so the first and last hourly bar are drawn whole.
        x: {time: true, range: function (u, min, max) { return [min - 1800, max + 1800]; }},
        y: {range: function (u, min, max) { return [0, Math.max(max, 1)]; }}},
      axes: [axis, Object.assign({}, axis, {size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]})],
      series: [{}].concat(data.series.map(function (s, i) {
        var colour = COLOURS[s.status] || text;
        return {
          label: s.label, stroke: colour, fill: colour, width: 0, paths: bars, points: {show: false},
          value: function (u, v, si, idx) { return idx == null ? "--" : s.values[idx]; },  // the count, not the stack
        };
      })),
      legend: {show: true},
    };
  }

  function draw(el) {
    var source = document.getElementById(el.dataset.chartSource);
    if (!source || typeof uPlot === "undefined") return;
    var data = JSON.parse(source.textContent);
    var series = [data.x].concat(stack(data.series));
    var plot = new uPlot(options(el, data), series, el);
    window.addEventListener("resize", function () {
      plot.setSize({width: Math.max(el.clientWidth, 200), height: HEIGHT});
    });
    // The theme follows the system setting live (theme.js): redraw with the new axis colours.
    new MutationObserver(function () {
      plot.destroy();
      plot = new uPlot(options(el, data), series, el);
    }).observe(document.documentElement, {attributes: true, attributeFilter: ["data-bs-theme"]});
  }

  function start() { document.querySelectorAll("[data-chart]").forEach(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
