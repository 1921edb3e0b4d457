/* The dashboard's charts, drawn with Chart.js from the page's JSON block (#chart-data):
   the ornament page's prices over time (christmas_spiders/dashboard/charts.py) and the
   year page's prices and appreciation by release year (dashboard/rankings.py). */
(function () {
  "use strict";
  var COLOURS = ["#8a1c1c", "#1f4d2b", "#1f4e8a", "#b8741a", "#6b2d7a", "#2c7a77"];
  var block = document.getElementById("chart-data");
  if (!block || typeof Chart === "undefined") { return; }
  var data = JSON.parse(block.textContent);

  function day(ms) { return new Date(ms).toISOString().slice(0, 10); }
  function minute(ms) { return new Date(ms).toISOString().slice(0, 16).replace("T", " "); }
  // Axis labels: dates, or dates and times when the whole chart spans under two days.
  function spanOf(series) {
    var xs = [];
    series.forEach(function (line) { line.points.forEach(function (p) { xs.push(p.x); }); });
    return xs.length ? Math.max.apply(null, xs) - Math.min.apply(null, xs) : 0;
  }
  function soldOut(context) { return context.raw && context.raw.s === 1; }
  function colour(index) { return COLOURS[index % COLOURS.length]; }

  function lines(canvas, series, extra) {
    return new Chart(canvas, {
      type: "line",
      data: {
        datasets: series.map(function (line, index) {
          return Object.assign({
            label: line.label,
            data: line.points,
            borderColor: colour(index),
            backgroundColor: colour(index),
            borderWidth: 2,
            pointRadius: 3
          }, extra.dataset || {});
        })
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", intersect: false },
        scales: extra.scales,
        plugins: { tooltip: { callbacks: extra.tooltip } }
      }
    });
  }

  var prices = document.getElementById("price-chart");
  if (prices && data.series) {
    var tick = spanOf(data.series) < 2 * 86400000 ? minute : day;
    lines(prices, data.series, {
      dataset: {
        stepped: "after",
        pointStyle: function (context) { return soldOut(context) ? "crossRot" : "circle"; },
        segment: {
          borderDash: function (context) { return context.p0.raw.s === 1 ? [6, 4] : undefined; }
        }
      },
      scales: {
        x: { type: "linear", ticks: { callback: tick, maxTicksLimit: 6 } },
        y: { title: { display: true, text: "price (USD)" } }
      },
      tooltip: {
        title: function (items) { return items.length ? minute(items[0].parsed.x) : ""; },
        label: function (item) {
          var text = item.dataset.label + ": $" + item.parsed.y.toFixed(2);
          return soldOut(item) ? text + " (out of stock)" : text;
        }
      }
    });
  }

  function year(value) { return String(value); }
  var byYear = document.getElementById("year-prices-chart");
  if (byYear && data.prices) {
    lines(byYear, data.prices, {
      scales: {
        x: { type: "linear", ticks: { callback: year, precision: 0 } },
        y: { title: { display: true, text: "median price (USD)" } }
      },
      tooltip: { title: function (items) { return items.length ? year(items[0].parsed.x) : ""; } }
    });
  }
  var growth = document.getElementById("year-growth-chart");
  if (growth && data.growth && data.growth.length) {
    lines(growth, data.growth, {
      scales: {
        x: { type: "linear", ticks: { callback: year, precision: 0 } },
        y: { title: { display: true, text: "growth per year (%)" } }
      },
      tooltip: {
        title: function (items) { return items.length ? "released " + year(items[0].parsed.x) : ""; },
        label: function (item) { return item.dataset.label + ": " + item.parsed.y.toFixed(1) + "% a year"; }
      }
    });
  }
}());
