// Live telemetry charts (GPU page, node page) with the vendored uPlot.
// Markup: <section data-metrics-charts data-url="API URL" data-refresh="30">
//   <button data-range="3600" aria-pressed="true">Hour</button> ...
//   <div data-metric-chart data-series="cpu_pct" data-labels="CPU" data-unit="%" data-scale="1"></div>
//   <span data-chart-status></span>
// </section>
// The page asks for the columns layout: {"origin", "step", "k": [...], "avg": {"<metric>": [...]}}
// (time of point i = origin + k[i] * step; average per step), about 300 points of the chosen range,
// and asks again every data-refresh seconds.
(function () {
  "use strict";
  var HEIGHT = 180;
  var POINTS = 300;
  var COLOURS = ["#0d6efd", "#d63384", "#198754", "#fd7e14"];

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function chartOptions(el, width) {
    var text = cssVar("--bs-body-color", "#212529");
    var grid = cssVar("--bs-border-color", "#dee2e6");
    var axis = {stroke: text, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}};
    var labels = el.dataset.labels.split(",");
    var unit = el.dataset.unit || "";
    var fixed = el.dataset.max ? parseFloat(el.dataset.max) : null;
    return {
      width: width, height: HEIGHT,
      scales: {x: {time: true},
               y: {range: function (u, min, max) {
                 return [0, Math.max(fixed || 0, max == null ? 1 : max * 1.1, 1)];
               }}},
      axes: [axis, Object.assign({}, axis, {size: 55, values: function (u, ticks) {
        return ticks.map(function (v) { return +v.toFixed(2) + (unit ? " " + unit : ""); });
      }})],
      series: [{}].concat(labels.map(function (label, i) {
        return {label: label, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: false,
                points: {show: false},
                value: function (u, v) { return v == null ? "--" : (+v.toFixed(2)) + (unit ? " " + unit : ""); }};
      })),
      legend: {show: true},
    };
  }

  var EMPTY = {origin: 0, step: 1, k: [], avg: {}};

  function toData(el, body) {
    var names = el.dataset.series.split(",");
    var scale = parseFloat(el.dataset.scale || "1");
    var x = body.k.map(function (k) { return body.origin + k * body.step; });
    return [x].concat(names.map(function (name) {
      var avg = body.avg[name] || [];
      return body.k.map(function (k, i) { return avg[i] != null ? avg[i] * scale : null; });
    }));
  }

  function Charts(section) {
    this.section = section;
    this.url = section.dataset.url;
    this.refresh = parseInt(section.dataset.refresh || "30", 10) * 1000;
    this.status = section.querySelector("[data-chart-status]");
    this.range = 3600;
    this.body = EMPTY;
    this.plots = [];
    var active = section.querySelector("[data-range][aria-pressed=true]");
    if (active) this.range = parseInt(active.dataset.range, 10);
    var self = this;
    section.querySelectorAll("[data-range]").forEach(function (button) {
      button.addEventListener("click", function () {
        section.querySelectorAll("[data-range]").forEach(function (b) {
          b.setAttribute("aria-pressed", b === button ? "true" : "false");
          b.classList.toggle("active", b === button);
        });
        self.range = parseInt(button.dataset.range, 10);
        self.load();
      });
    });
    this.draw();
    this.load();
    window.setInterval(function () { if (!document.hidden) self.load(); }, this.refresh);
    window.addEventListener("resize", function () { self.resize(); });
    // Drawn inside a tab that was hidden (no width yet): size again when the tab is shown.
    document.addEventListener("shown.bs.tab", function () { self.resize(); });
    new MutationObserver(function () { self.draw(); })
      .observe(document.documentElement, {attributes: true, attributeFilter: ["data-bs-theme"]});
  }

  Charts.prototype.width = function (el) { return Math.max(el.clientWidth || el.parentNode.clientWidth, 240); };

  Charts.prototype.draw = function () {
    var self = this;
    this.plots.forEach(function (p) { p.destroy(); });
    this.plots = [];
    this.section.querySelectorAll("[data-metric-chart]").forEach(function (el) {
      var plot = new uPlot(chartOptions(el, self.width(el)), toData(el, self.body), el);
      plot.root.setAttribute("data-drawn", "true");
      self.plots.push(plot);
    });
  };

  Charts.prototype.resize = function () {
    var self = this;
    this.plots.forEach(function (plot) {
      plot.setSize({width: self.width(plot.root.parentNode), height: HEIGHT});
    });
  };

  Charts.prototype.say = function (text) { if (this.status) this.status.textContent = text; };

  Charts.prototype.load = function () {
    var self = this;
    var end = new Date();
    var start = new Date(end.getTime() - this.range * 1000);
    var step = Math.max(5, Math.round(this.range / POINTS));
    var query = "?start=" + encodeURIComponent(start.toISOString()) + "&end=" + encodeURIComponent(end.toISOString()) +
                "&step=" + step + "&layout=columns";
    fetch(this.url + query, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) throw new Error("the server answered " + response.status);
        return response.json();
      })
      .then(function (body) {
        self.body = body.k ? body : EMPTY;
        var charts = self.section.querySelectorAll("[data-metric-chart]");
        self.plots.forEach(function (plot, i) { plot.setData(toData(charts[i], self.body)); });
        self.section.dataset.loaded = String(self.body.k.length);
        self.say(self.body.k.length ? "Updated " + end.toLocaleTimeString() + " (every " + self.refresh / 1000 + " s)"
                                    : "No samples in this range yet.");
      })
      .catch(function (error) { self.say("Could not load the figures: " + error.message + ". Retrying."); });
  };

  function start() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll("[data-metrics-charts]").forEach(function (section) { new Charts(section); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
