// A click on the county map fills the closure's latitude and longitude (the map is equirectangular
// between the bounds written on the svg element).
(function () {
  "use strict";
  var svg = document.querySelector("figure.pick svg");
  if (!svg) return;
  svg.style.cursor = "crosshair";
  svg.addEventListener("click", function (ev) {
    var box = svg.viewBox.baseVal, rect = svg.getBoundingClientRect();
    var x = (ev.clientX - rect.left) / rect.width, y = (ev.clientY - rect.top) / rect.height;
    var d = svg.dataset, west = +d.west, east = +d.east, south = +d.south, north = +d.north;
    document.querySelector('input[name="lon"]').value = (west + x * (east - west)).toFixed(6);
    document.querySelector('input[name="lat"]').value = (north - y * (north - south)).toFixed(6);
    var mark = svg.querySelector(".picked") || document.createElementNS("http://www.w3.org/2000/svg", "circle");
    mark.setAttribute("class", "picked"); mark.setAttribute("r", "9"); mark.setAttribute("fill", "none");
    mark.setAttribute("stroke", "#c62828"); mark.setAttribute("stroke-width", "4");
    mark.setAttribute("cx", x * box.width); mark.setAttribute("cy", y * box.height);
    svg.appendChild(mark);
  });
})();
