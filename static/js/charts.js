/* Run detail charts, drawn with the vendored Chart.js from the JSON the page embeds. */
(function () {
  "use strict";

  var ACCENT = "#2f5bd3", OK = "#1d7f47", BAD = "#b83227", MUTED = "#8a93a5";

  function draw() {
    var source = document.getElementById("run-chart-data");
    if (!source || !window.Chart) return;
    var data = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (window.Chart.getChart(canvas)) return; // already drawn; swapped-in canvases are new
      if (canvas.dataset.chart === "distribution") {
        var d = data.distributions[Number(canvas.dataset.index)];
        if (d) distribution(canvas, d);
      } else if (canvas.dataset.chart === "history") {
        history(canvas, data.history);
      }
    });
  }

  function distribution(canvas, d) {
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: d.bins, datasets: [{ label: "items", data: d.counts, backgroundColor: ACCENT, borderRadius: 3 }] },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false }, title: { display: true, text: "Score distribution: " + d.label } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "items" } },
                  x: { title: { display: true, text: "score" } } }
      }
    });
  }

  function history(canvas, h) {
    var colors = h.pass_rates.map(function (_, i) { return i === h.current ? BAD : ACCENT; });
    var datasets = [{
      label: "pass rate %", data: h.pass_rates, borderColor: ACCENT, backgroundColor: ACCENT,
      pointBackgroundColor: colors, pointBorderColor: colors, pointRadius: h.pass_rates.map(function (_, i) { return i === h.current ? 6 : 3; }), tension: 0.2
    }];
    if (h.threshold !== null && h.threshold !== undefined) {
      datasets.push({ label: "threshold", data: h.pass_rates.map(function () { return h.threshold; }),
        borderColor: OK, borderDash: [6, 4], pointRadius: 0, fill: false });
    }
    new window.Chart(canvas, {
      type: "line",
      data: { labels: h.labels, datasets: datasets },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: {
          title: { display: true, text: "Pass rate over past runs of the " + h.of },
          legend: { labels: { color: MUTED } },
          tooltip: { callbacks: { title: function (items) { return h.names[items[0].dataIndex]; } } }
        },
        scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
