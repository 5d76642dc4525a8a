// Sluice console: live numbers and charts of the queue page, and confirmations. No framework;
// the data comes from the page's state.json every sampling interval.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
  var live = document.getElementById("live");
  if (!live) return;
  var url = live.getAttribute("data-state");
  var interval = Math.max(1000, parseInt(live.getAttribute("data-interval"), 10) || 5000);
  var css = getComputedStyle(document.documentElement);
  function color(name) { return css.getPropertyValue("--" + name).trim() || "#333"; }

  // draw plots series (arrays of numbers over the times ts) on a canvas, scaled to the max.
  function draw(canvas, ts, series) {
    var dpr = window.devicePixelRatio || 1, w = canvas.clientWidth || 900, h = canvas.clientHeight || 180;
    canvas.width = w * dpr; canvas.height = h * dpr;
    var g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    var left = 48, right = 8, top = 8, bottom = 20, pw = w - left - right, ph = h - top - bottom;
    var max = 1;
    series.forEach(function (s) { s.values.forEach(function (v) { if (v > max) max = v; }); });
    var now = ts.length ? ts[ts.length - 1] : Date.now(), from = now - 3600 * 1000;
    g.strokeStyle = "#e5e7eb"; g.fillStyle = "#6b7280"; g.font = "11px system-ui, sans-serif";
    for (var i = 0; i <= 4; i++) {
      var y = top + ph - (ph * i) / 4;
      g.beginPath(); g.moveTo(left, y); g.lineTo(left + pw, y); g.stroke();
      var label = (max * i) / 4;
      g.fillText(label >= 10 ? Math.round(label) : label.toFixed(1), 4, y + 4);
    }
    g.fillText("-60m", left, h - 4); g.fillText("now", left + pw - 22, h - 4);
    series.forEach(function (s) {
      g.strokeStyle = color(s.color); g.lineWidth = 2; g.beginPath();
      s.values.forEach(function (v, k) {
        var x = left + (pw * (ts[k] - from)) / (now - from), y = top + ph - (ph * v) / max;
        if (k === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    });
    canvas.setAttribute("data-points", String(ts.length));
    canvas.setAttribute("data-last", series.map(function (s) { return s.values.length ? s.values[s.values.length - 1] : 0; }).join(","));
  }

  function pick(samples, key) { return samples.map(function (s) { return s[key]; }); }

  function refresh() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (st) {
        document.getElementById("visible").textContent = st.Visible;
        document.getElementById("inflight").textContent = st.InFlight;
        document.getElementById("delayed").textContent = st.Delayed;
        var ts = pick(st.samples, "t");
        draw(document.getElementById("depth-chart"), ts, [
          { values: pick(st.samples, "visible"), color: "visible" },
          { values: pick(st.samples, "inFlight"), color: "inflight" },
          { values: pick(st.samples, "delayed"), color: "delayed" }]);
        draw(document.getElementById("rate-chart"), ts, [
          { values: pick(st.samples, "sent"), color: "sent" },
          { values: pick(st.samples, "received"), color: "received" },
          { values: pick(st.samples, "deleted"), color: "deleted" }]);
        var rows = document.querySelectorAll("#tasks tbody tr");
        st.tasks.forEach(function (t, i) {
          if (!rows[i]) return;
          rows[i].querySelector(".status").textContent = t.status;
          rows[i].querySelector(".moved").textContent = t.moved;
        });
        live.setAttribute("data-updated", String(Date.now()));
      })
      .catch(function () { live.setAttribute("data-error", "1"); });
  }
  refresh();
  setInterval(refresh, interval);
})();
