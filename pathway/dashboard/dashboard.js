/* Draw every chart from the figures embedded in the page; re-lay them out to A4 width to print. */
(function () {
  "use strict";
  var figures = JSON.parse(document.getElementById("dashboard-figures").textContent);
  var printWidth = Number(document.body.getAttribute("data-print-width")) || 680;
  var config = { displaylogo: false, displayModeBar: false, responsive: true };
  var ids = Object.keys(figures);
  ids.forEach(function (id) {
    var figure = figures[id];
    var element = document.getElementById(id);
    Plotly.newPlot(element, figure.data, figure.layout, config).then(function () {
      element.setAttribute("data-rendered", "true");
    });
  });
  var printing = false;
  function layOut(forPrint) {
    if (forPrint === printing) {
      return;
    }
    printing = forPrint;
    ids.forEach(function (id) {
      Plotly.relayout(document.getElementById(id), { width: forPrint ? printWidth : null });
    });
  }
  window.addEventListener("beforeprint", function () { layOut(true); });
  window.addEventListener("afterprint", function () { layOut(false); });
  if (window.matchMedia) {
    var query = window.matchMedia("print");
    var onChange = function (event) { layOut(event.matches); };
    if (query.addEventListener) {
      query.addEventListener("change", onChange);
    } else if (query.addListener) {
      query.addListener(onChange);
    }
  }
})();
