package live

// pageHTML is the live page: inline styles and script, nothing loaded
// from elsewhere. The script keeps the fleet intervals it was sent and
// redraws the two charts (throughput; p50 and p99 latency) at each one.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>startline live: {{.RunID}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #1d2733; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 20px 0 6px; }
#state { font-weight: 600; }
#state.done { color: #1a7f37; }
#state.failed { color: #b42318; }
table.nodes { border-collapse: collapse; }
table.nodes td, table.nodes th { padding: 2px 10px 2px 0; text-align: left; }
.st-LOST, .st-FAILED { color: #b42318; font-weight: 600; }
.st-DONE { color: #1a7f37; }
.st-RUNNING { color: #1f5fbf; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; }
svg.live { background: #f6f8fa; border: 1px solid #d0d7de; }
svg.live path { fill: none; stroke-width: 2; }
svg.live .tput { stroke: #1f5fbf; }
svg.live .p50 { stroke: #1a7f37; }
svg.live .p99 { stroke: #d97706; }
svg.live text { font-size: 11px; fill: #57606a; }
#final table td { padding: 2px 14px 2px 0; }
#final .num { font-variant-numeric: tabular-nums; text-align: right; }
.muted { color: #57606a; }
</style>
</head>
<body data-intervals="0" data-done="false">
<h1>startline live: {{.RunID}}</h1>
<div>run <span id="state">connecting</span> <span class="muted" id="last"></span></div>
<h2>Nodes</h2>
<table class="nodes"><thead><tr><th>node</th><th>state</th><th>phase</th></tr></thead><tbody id="nodes"></tbody></table>
<h2>Throughput and latency</h2>
<div class="charts">
<svg class="live" id="tput" width="560" height="200" viewBox="0 0 560 200" role="img" aria-label="throughput over time"></svg>
<svg class="live" id="lat" width="560" height="200" viewBox="0 0 560 200" role="img" aria-label="p50 and p99 latency over time"></svg>
</div>
<div id="final" hidden>
<h2>Result</h2>
<table><tbody id="final-rows"></tbody></table>
<p><a href="/report">The full report</a> · <a href="/result.json">result.json</a></p>
</div>
<h2>Startup</h2>
<div id="waterfall" class="muted">waiting for the start</div>
<script>
(function () {
  "use strict";
  var ivs = [];
  function fd(ns) {
    if (!ns) { return "0s"; }
    var units = [[3600e9, "h"], [60e9, "m"], [1e9, "s"], [1e6, "ms"], [1e3, "\u00b5s"]];
    for (var i = 0; i < units.length; i++) {
      if (ns >= units[i][0]) { return (ns / units[i][0]).toFixed(ns >= 10 * units[i][0] ? 0 : 1).replace(/\.0$/, "") + units[i][1]; }
    }
    return ns + "ns";
  }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) { e.textContent = text; } if (cls) { e.className = cls; } return e; }
  function renderNodes(nodes) {
    var tb = document.getElementById("nodes");
    tb.textContent = "";
    (nodes || []).forEach(function (n) {
      var tr = el("tr");
      tr.appendChild(el("td", n.name));
      tr.appendChild(el("td", n.state, "st-" + n.state));
      tr.appendChild(el("td", n.phase || ""));
      tb.appendChild(tr);
    });
  }
  var NS = "http://www.w3.org/2000/svg";
  function chart(id, series, unit, title) {
    var svg = document.getElementById(id), W = 560, H = 200, L = 56, B = 24, T = 18;
    svg.textContent = "";
    var pts = ivs.filter(function (iv) { return iv.phase === "measure" || iv.phase === "warmup"; });
    var t = document.createElementNS(NS, "text"); t.setAttribute("x", L); t.setAttribute("y", 13); t.textContent = title; svg.appendChild(t);
    if (pts.length === 0) { return; }
    var x0 = pts[0].start_ns, x1 = pts[pts.length - 1].start_ns + pts[pts.length - 1].duration_ns;
    var ymax = 0;
    series.forEach(function (s) { pts.forEach(function (iv) { ymax = Math.max(ymax, s.get(iv)); }); });
    if (ymax <= 0) { ymax = 1; }
    function X(v) { return L + (W - L - 8) * (v - x0) / Math.max(1, x1 - x0); }
    function Y(v) { return H - B - (H - B - T) * v / ymax; }
    series.forEach(function (s) {
      var d = "";
      pts.forEach(function (iv, i) { d += (i ? "L" : "M") + X(iv.start_ns + iv.duration_ns).toFixed(1) + " " + Y(s.get(iv)).toFixed(1); });
      if (pts.length === 1) { d += "L" + X(x0).toFixed(1) + " " + Y(s.get(pts[0])).toFixed(1); }
      var p = document.createElementNS(NS, "path"); p.setAttribute("d", d); p.setAttribute("class", "series " + s.cls); svg.appendChild(p);
    });
    var top = document.createElementNS(NS, "text"); top.setAttribute("x", 4); top.setAttribute("y", T + 4); top.textContent = unit(ymax); svg.appendChild(top);
    var zero = document.createElementNS(NS, "text"); zero.setAttribute("x", 4); zero.setAttribute("y", H - B); zero.textContent = unit(0); svg.appendChild(zero);
    var end = document.createElementNS(NS, "text"); end.setAttribute("x", W - 60); end.setAttribute("y", H - 6); end.textContent = fd(x1 - x0); svg.appendChild(end);
  }
  function draw() {
    chart("tput", [{ cls: "tput", get: function (iv) { return iv.throughput_per_s || 0; } }], function (v) { return Math.round(v) + "/s"; }, "throughput (ops/s)");
    chart("lat", [
      { cls: "p50", get: function (iv) { return (iv.latency_ns || {}).p50 || 0; } },
      { cls: "p99", get: function (iv) { return (iv.latency_ns || {}).p99 || 0; } }
    ], fd, "latency: p50 (green), p99 (orange)");
    document.body.setAttribute("data-intervals", String(ivs.length));
    var iv = ivs[ivs.length - 1];
    document.getElementById("last").textContent = iv.phase + " " + fd(iv.elapsed_ns) + ": " + Math.round(iv.throughput_per_s) + " ops/s, p50 " +
      fd(iv.latency_ns.p50) + ", p99 " + fd(iv.latency_ns.p99) + ", " + iv.errors + " errors, " + iv.nodes + " nodes, " + iv.lost + " lost";
  }
  function waterfall() {
    fetch("/waterfall", { cache: "no-store" }).then(function (r) { return r.text(); }).then(function (html) {
      if (html) { var w = document.getElementById("waterfall"); w.className = ""; w.innerHTML = html; }
    });
  }
  function row(tb, name, value) { var tr = el("tr"); tr.appendChild(el("td", name)); tr.appendChild(el("td", value, "num")); tb.appendChild(tr); }
  function final(res) {
    var m = res.phases.measure, tb = document.getElementById("final-rows");
    tb.textContent = "";
    row(tb, "measured ops", String(m.ops));
    row(tb, "errors", String(m.errors));
    row(tb, "ops/s", m.throughput_per_s.toFixed(1));
    row(tb, "p50", fd(m.latency_ns.p50));
    row(tb, "p99", fd(m.latency_ns.p99));
    row(tb, "max", fd(m.latency_ns.max));
    (res.workers || []).forEach(function (w) { if (w.lost) { row(tb, w.node + " (lost)", String(w.phases ? w.phases.measure.ops : 0) + " ops kept"); } });
    (res.thresholds || []).forEach(function (t) { row(tb, "threshold " + t.name, t.ok ? "ok" : "FAIL"); });
    if (res.stopped) { row(tb, "stopped", res.stopped); }
    document.getElementById("final").hidden = false;
    var st = document.getElementById("state");
    var bad = res.error || (res.thresholds || []).some(function (t) { return !t.ok; });
    st.textContent = bad ? "ended: failed" : "ended";
    st.className = bad ? "failed" : "done";
    document.body.setAttribute("data-measure-ops", String(m.ops));
    document.body.setAttribute("data-done", "true");
  }
  var es = new EventSource("/events");
  es.onopen = function () { if (document.body.getAttribute("data-done") !== "true") { document.getElementById("state").textContent = "running"; } };
  es.addEventListener("reset", function () { ivs = []; });
  es.addEventListener("nodes", function (e) { renderNodes(JSON.parse(e.data)); });
  es.addEventListener("interval", function (e) { ivs.push(JSON.parse(e.data)); draw(); });
  es.addEventListener("waterfall", waterfall);
  es.addEventListener("done", function () {
    es.close();
    ivs = [];
    fetch("/result.json", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (res) {
      ivs = (res.intervals || []).map(function (iv) { return Object.assign({ nodes: (res.workers || []).length, lost: 0 }, iv); });
      if (ivs.length) { draw(); }
      final(res);
    });
  });
})();
</script>
</body>
</html>
`
