// The lineage graph: cytoscape.js renders it, dagre (through cytoscape-dagre) lays it out
// left to right; a click on a readable node opens its artifact page.
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("lineage-graph");
  if (!box || typeof cytoscape === "undefined") {
    return;
  }
  if (typeof cytoscapeDagre !== "undefined") {
    cytoscape.use(cytoscapeDagre);
  }
  fetch(box.dataset.src, { credentials: "same-origin" })
    .then(function (response) { return response.json(); })
    .then(function (graph) {
      var cy = cytoscape({
        container: box,
        elements: graph.elements,
        layout: { name: "dagre", rankDir: "LR", nodeSep: 30, rankSep: 90 },
        wheelSensitivity: 0.2,
        maxZoom: 1.3,
        style: [
          { selector: "node", style: {
              "label": "data(label)", "shape": "round-rectangle", "width": "label",
              "height": 28, "padding": "10px", "background-color": "#e8eef7",
              "border-width": 1, "border-color": "#4a6fa5", "font-size": 12,
              "text-valign": "center", "text-halign": "center" } },
          { selector: "node[?root]", style: { "background-color": "#ffd98a", "border-width": 2 } },
          { selector: "node[?hidden]", style: { "background-color": "#ddd", "border-style": "dashed" } },
          { selector: "edge", style: {
              "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.5,
              "line-color": "#7a8ca8", "target-arrow-color": "#7a8ca8", "label": "data(label)",
              "font-size": 10, "text-rotation": "autorotate", "text-background-color": "#fff",
              "text-background-opacity": 1 } }
        ]
      });
      cy.on("tap", "node", function (event) {
        var href = event.target.data("href");
        if (href) { window.location.href = href; }
      });
      window.artifactHubLineage = cy;  // for tests and the browser console
      box.dataset.nodes = String(cy.nodes().length);
      box.dataset.edges = String(cy.edges().length);
      box.classList.add("ready");
    })
    .catch(function (error) { box.textContent = "The graph could not be loaded: " + error; });
});
