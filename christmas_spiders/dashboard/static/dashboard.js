/* The ornament page's chart: one stepped line per shop from the page's JSON block
   (#chart-data, see christmas_spiders/dashboard/charts.py), drawn with Chart.js. */
(function () {
  "use strict";
  var COLOURS = ["#8a1c1c", "#1f4d2b", "#1f4e8a", "#b8741a", "#6b2d7a", "#2c7a77"];
  var block = document.getElementById("chart-data");
  var canvas = document.getElementById("price-chart");
  if (!block || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(block.textContent);

  function day(ms) { return new Date(ms).toISOString().slice(0, 10); }
  function soldOut(context) { return context.raw && context.raw.s === 1; }

  var datasets = data.series.map(function (series, index) {
    var colour = COLOURS[index % COLOURS.length];
    return {
      label: series.label,
      data: series.points,
      stepped: "after",
      borderColor: colour,
      backgroundColor: colour,
      borderWidth: 2,
      pointRadius: 3,
      pointStyle: function (context) { return soldOut(context) ? "crossRot" : "circle"; },
      segment: {
        borderDash: function (context) { return context.p0.raw.s === 1 ? [6, 4] : undefined; }
      }
    };
  });

  new Chart(canvas, {
    type: "line",
    data: { datasets: datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: false },
      scales: {
        x: { type: "linear", ticks: { callback: day, maxTicksLimit: 6 } },
        y: { title: { display: true, text: "price (USD)" } }
      },
      plugins: {
        tooltip: {
          callbacks: {
            title: function (items) { return items.length ? day(items[0].parsed.x) : ""; },
            label: function (item) {
              var text = item.dataset.label + ": $" + item.parsed.y.toFixed(2);
              return soldOut(item) ? text + " (out of stock)" : text;
            }
          }
        }
      }
    }
  });
}());
