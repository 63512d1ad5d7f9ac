// pslake docs: highlighting in the lineage graphs and the table filter. No library, no network.
"use strict";

(function () {
  // Each SVG graph: click a node to light up everything upstream and downstream of it; click it
  // again to follow its link. Hovering a node of a column graph lights up its sources.
  function wire(svg) {
    var nodes = {};
    Array.prototype.forEach.call(svg.querySelectorAll(".node"), function (n) {
      nodes[n.getAttribute("data-id")] = n;
    });
    var edges = Array.prototype.slice.call(svg.querySelectorAll(".edge"));
    var up = {}, down = {};
    edges.forEach(function (e) {
      var from = e.getAttribute("data-from"), to = e.getAttribute("data-to");
      (up[to] = up[to] || []).push(from);
      (down[from] = down[from] || []).push(to);
    });
    function reach(start, next) {
      var seen = {}, stack = [start];
      while (stack.length) {
        var v = stack.pop();
        (next[v] || []).forEach(function (u) {
          if (!seen[u]) { seen[u] = true; stack.push(u); }
        });
      }
      return seen;
    }
    var selected = null;
    function clear() {
      selected = null;
      svg.classList.remove("focused");
      Array.prototype.forEach.call(svg.querySelectorAll(".lit, .selected"), function (el) {
        el.classList.remove("lit");
        el.classList.remove("selected");
      });
    }
    function focus(id) {
      clear();
      selected = id;
      var lit = Object.assign({}, reach(id, up), reach(id, down));
      lit[id] = true;
      svg.classList.add("focused");
      Object.keys(lit).forEach(function (k) { if (nodes[k]) { nodes[k].classList.add("lit"); } });
      nodes[id].classList.add("selected");
      edges.forEach(function (e) {
        if (lit[e.getAttribute("data-from")] && lit[e.getAttribute("data-to")]) { e.classList.add("lit"); }
      });
    }
    Object.keys(nodes).forEach(function (id) {
      var n = nodes[id];
      n.addEventListener("click", function (ev) {
        if (selected !== id) { ev.preventDefault(); focus(id); }
      });
      if (svg.id.indexOf("columns-") === 0) {
        n.addEventListener("mouseenter", function () { focus(id); });
        n.addEventListener("mouseleave", clear);
      }
    });
    svg.addEventListener("click", function (ev) {
      if (ev.target === svg) { clear(); }
    });
    return { nodes: Object.keys(nodes).length, edges: edges.length };
  }

  function filter(text) {
    var q = text.trim().toLowerCase();
    Array.prototype.forEach.call(document.querySelectorAll("[data-table]"), function (el) {
      var match = !q || el.getAttribute("data-table").toLowerCase().indexOf(q) >= 0;
      el.classList.toggle("hidden", !match);
    });
  }

  function start() {
    var graphs = document.querySelectorAll("svg.graph");
    var main = null;
    Array.prototype.forEach.call(graphs, function (svg) {
      var counts = wire(svg);
      if (svg.id === "table-graph") { main = counts; }
    });
    var fit = document.getElementById("fit-graph");
    var table = document.getElementById("table-graph");
    if (fit && table) {
      fit.addEventListener("click", function () {
        var on = table.classList.toggle("fit");
        fit.textContent = on ? "Actual size" : "Fit to width";
      });
    }
    var input = document.getElementById("filter");
    if (input) { input.addEventListener("input", function () { filter(input.value); }); }
    var status = document.getElementById("graph-status");
    if (status && main) {
      status.textContent = "Interactive: " + main.nodes + " tables, " + main.edges + " reads; " +
        graphs.length + " graphs on this page.";
    }
    document.body.setAttribute("data-ready", "true");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
