// iot-gateway dashboard: small enhancements over server-rendered pages (everything works without this file).
// Live values over Server-Sent Events, local times, status that ages, copy buttons, auto-submitting filters.
"use strict";

(function () {
  const body = document.body;
  const onlineMs = Number(body.dataset.onlineS || 300) * 1000;
  const offlineMs = Number(body.dataset.offlineS || 3600) * 1000;
  const LABELS = { online: "Online", stale: "Stale", offline: "Offline", never: "No data", disabled: "Disabled" };

  // Numbers as the server formats them (charts.format_value).
  function formatValue(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "boolean") return value ? "on" : "off";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return String(value);
    if (value !== 0 && Math.abs(value) < 1) return String(Number(value.toPrecision(3)));
    const text = value.toFixed(Math.abs(value) >= 100 ? 1 : 2);
    return text.replace(/\.?0+$/, "");
  }

  function ago(ts) {
    if (!ts) return "never";
    const seconds = Math.max(0, (Date.now() - ts) / 1000);
    if (seconds >= 86400) return Math.floor(seconds / 86400) + " d ago";
    if (seconds >= 3600) return Math.floor(seconds / 3600) + " h ago";
    if (seconds >= 60) return Math.floor(seconds / 60) + " min ago";
    return "just now";
  }

  function statusOf(el) {
    if (el.dataset.enabled === "false") return "disabled";
    const last = Number(el.dataset.lastTs);
    if (!last) return "never";
    const age = Date.now() - last;
    return age <= onlineMs ? "online" : age <= offlineMs ? "stale" : "offline";
  }

  function refreshTimes(root) {
    root.querySelectorAll("time.ago[data-ts]").forEach((t) => {
      t.textContent = ago(Number(t.dataset.ts));
      if (t.dataset.ts) t.title = new Date(Number(t.dataset.ts)).toLocaleString();
    });
    root.querySelectorAll("time.local[datetime]").forEach((t) => {
      t.textContent = new Date(t.getAttribute("datetime")).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    });
    root.querySelectorAll("time.local-tick[data-ts]").forEach((t) => {
      const d = new Date(Number(t.dataset.ts));
      t.textContent = t.dataset.day === "true"
        ? d.toLocaleDateString([], { weekday: "short", day: "numeric" })
        : d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    });
  }

  function refreshStatus() {
    const counts = {};
    document.querySelectorAll("[data-device][data-enabled]").forEach((el) => {
      const status = statusOf(el);
      counts[status] = (counts[status] || 0) + 1;
      const pill = el.querySelector("[data-status-pill]");
      if (pill && !pill.classList.contains("pill-" + status)) {
        pill.className = "pill pill-" + status;
        pill.textContent = LABELS[status];
      }
    });
    document.querySelectorAll("[data-count]").forEach((n) => { n.textContent = counts[n.dataset.count] || 0; });
  }

  // Sparklines: the same geometry as charts.sparkline, over the last hour.
  function drawSpark(spark) {
    const points = JSON.parse(spark.dataset.points || "[]");
    const end = Date.now(), start = end - 3600 * 1000;
    const shown = points.filter((p) => p[0] >= start);
    const [area, line] = spark.querySelectorAll("path");
    spark.querySelector(".spark-empty").hidden = shown.length >= 2;
    if (shown.length < 2) { line.setAttribute("d", ""); area.setAttribute("d", ""); return; }
    let low = Math.min(...shown.map((p) => p[1])), high = Math.max(...shown.map((p) => p[1]));
    if (high === low) { low -= 1; high += 1; }
    const xy = shown.map((p) => [((p[0] - start) / (end - start)) * 120, 2 + ((high - p[1]) / (high - low)) * 28]);
    const d = xy.map((c, i) => (i ? "L" : "M") + c[0].toFixed(1) + "," + c[1].toFixed(1)).join(" ");
    line.setAttribute("d", d);
    area.setAttribute("d", d + " L" + xy[xy.length - 1][0].toFixed(1) + ",32 L" + xy[0][0].toFixed(1) + ",32 Z");
  }

  function flash(el) {
    el.classList.remove("flash");
    void el.offsetWidth; // restart the transition
    el.classList.add("flash");
    setTimeout(() => el.classList.remove("flash"), 50);
  }

  // Device page charts: fetched again as server-rendered HTML, at most every few seconds.
  let chartTimer = null;
  function scheduleCharts(main) {
    if (!main.dataset.charts || chartTimer) return;
    chartTimer = setTimeout(async () => {
      chartTimer = null;
      try {
        const response = await fetch(main.dataset.charts, { credentials: "same-origin" });
        if (!response.ok) return;
        const charts = document.getElementById("charts");
        charts.innerHTML = await response.text();
        refreshTimes(charts);
      } catch (_) { /* the next reading tries again */ }
    }, 2500);
  }

  // A card that had no value of this metric yet gets one (up to four, as the server renders).
  function addMetric(card, metric) {
    const list = card.querySelector("dl.metrics");
    list.querySelector(".metric-empty")?.remove();
    if (list.children.length >= 4) return null;
    const unit = JSON.parse(card.dataset.units || "{}")[metric];
    const box = document.createElement("div");
    box.className = "metric";
    box.dataset.metric = metric;
    box.innerHTML = '<dt></dt><dd><span class="v"></span>' + (unit ? ' <span class="unit"></span>' : "") + "</dd>";
    box.querySelector("dt").textContent = metric;
    if (unit) box.querySelector(".unit").textContent = unit;
    list.appendChild(box);
    return box;
  }

  function applyReading(main, reading) {
    const el = document.querySelector('[data-device="' + CSS.escape(reading.device_id) + '"]');
    if (!el) return;
    if (!el.dataset.lastTs || reading.ts > Number(el.dataset.lastTs)) el.dataset.lastTs = reading.ts;
    el.querySelectorAll("time.ago").forEach((t) => { t.dataset.ts = el.dataset.lastTs; });
    const scope = main.dataset.charts ? document : el;
    let unknownMetric = false;
    for (const [metric, value] of Object.entries(reading.values)) {
      let box = scope.querySelector('.metric[data-metric="' + CSS.escape(metric) + '"]');
      if (!box && !main.dataset.charts) box = addMetric(el, metric);
      if (!box) { unknownMetric = true; continue; }
      const v = box.querySelector(".v");
      v.textContent = formatValue(value);
      flash(v);
      const t = box.querySelector("time.ago");
      if (t) t.dataset.ts = reading.ts;
    }
    const spark = el.querySelector(".spark");
    if (spark && spark.dataset.sparkMetric in reading.values) {
      const points = JSON.parse(spark.dataset.points || "[]");
      points.push([reading.ts, Number(reading.values[spark.dataset.sparkMetric])]);
      spark.dataset.points = JSON.stringify(points.slice(-500));
      drawSpark(spark);
    }
    if (unknownMetric && main.dataset.charts) setTimeout(() => location.reload(), 1500); // a new metric: new tile and chart
    scheduleCharts(main);
    refreshTimes(el.closest(".page") || document);
    refreshStatus();
  }

  function connect(main) {
    const state = document.getElementById("live-state");
    const url = main.dataset.stream + (main.dataset.since ? "?since=" + encodeURIComponent(main.dataset.since) : "");
    const source = new EventSource(url);
    const show = (on) => {
      if (!state) return;
      state.hidden = false;
      state.classList.toggle("on", on);
      state.querySelector(".live-text").textContent = on ? "Live" : "Reconnecting…";
    };
    source.onopen = () => show(true);
    source.onerror = () => show(false);
    source.addEventListener("reading", (event) => applyReading(main, JSON.parse(event.data)));
    source.addEventListener("resync", () => {
      // Too much happened while away: show fresh state (at most every half minute).
      const last = Number(sessionStorage.getItem("resynced") || 0);
      if (Date.now() - last > 30000) { sessionStorage.setItem("resynced", String(Date.now())); location.reload(); }
    });
    window.addEventListener("pagehide", () => source.close());
  }

  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try {
        // Plain-HTTP pages (a gateway on the LAN) have no clipboard API; a pending permission must not hang.
        const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 1000));
        await Promise.race([navigator.clipboard.writeText(text), timeout]);
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(document.getElementById(button.dataset.copy));
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        document.execCommand("copy");
      }
      const label = button.getAttribute("aria-label");
      button.textContent = "Copied";
      button.setAttribute("aria-label", "Copied");
      setTimeout(() => { button.textContent = "Copy"; button.setAttribute("aria-label", label); }, 2000);
    });
  });

  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.requestSubmit());
  });

  const main = document.querySelector("main[data-stream]");
  if (main && "EventSource" in window) connect(main);
  refreshTimes(document);
  refreshStatus();
  setInterval(() => { refreshTimes(document); refreshStatus(); }, 15000);
  setInterval(() => document.querySelectorAll(".spark[data-points]").forEach(drawSpark), 60000);
})();
