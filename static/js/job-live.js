// Live job page: replays stored events, then streams new ones over /ws/jobs/<id>/.
// Keeps the last sequence number shown, so a reconnect resumes without gaps or duplicates.
(function () {
  "use strict";
  const root = document.getElementById("job");
  if (!root) return;
  const wsPath = root.dataset.wsPath;
  const els = {
    status: document.getElementById("job-status"),
    step: document.getElementById("job-step"),
    stepElapsed: document.getElementById("job-step-elapsed"),
    live: document.getElementById("job-live"),
    bar: document.getElementById("job-progress"),
    barText: document.getElementById("job-progress-text"),
    waiting: document.getElementById("job-waiting"),
    error: document.getElementById("job-error"),
    steps: document.getElementById("job-steps"),
    hosts: document.querySelector("#job-hosts tbody"),
    log: document.getElementById("job-log"),
    cancelBox: document.getElementById("job-cancel-box"),
    retryBox: document.getElementById("job-retry-box"),
    started: document.getElementById("job-started"),
    finished: document.getElementById("job-finished"),
    duration: document.getElementById("job-duration"),
    filter: document.getElementById("job-log-filter"),
    filterCount: document.getElementById("job-log-count"),
  };
  const FINAL = ["succeeded", "failed", "cancelled"];
  let lastSeq = 0;
  // Set only by a final status event actually received, so a page drawn after the job ended
  // still replays its log.
  let finished = false;
  let stepSince = null;  // when the current step began, in this browser's clock
  let retryDelay = 500;

  function setProgress(pct) {
    els.bar.setAttribute("aria-valuenow", pct);
    els.bar.firstElementChild.style.width = pct + "%";
    els.barText.textContent = pct + "%";
  }
  function setStatus(status) {
    els.status.textContent = status;
    els.status.className = "badge status-" + status;
    if (FINAL.includes(status)) {
      finished = true;
      els.live.textContent = "● complete";
    }
    // The buttons follow the state: Cancel while queued/running, Retry once ended.
    if (els.cancelBox) els.cancelBox.hidden = FINAL.includes(status);
    if (els.retryBox) els.retryBox.hidden = !FINAL.includes(status);
  }
  // Log filter: a line shows when its text (time, host, message, level) contains the query.
  function query() { return els.filter ? els.filter.value.trim().toLowerCase() : ""; }
  function matches(li, q) {
    return !q || (li.textContent + " " + li.className).toLowerCase().includes(q);
  }
  let shownLines = 0;
  function showCount(q) {
    els.filterCount.textContent = q ? shownLines + " of " + els.log.children.length + " lines" : "";
  }
  function applyFilter() {
    const q = query();
    shownLines = 0;
    for (const li of els.log.children) { li.hidden = !matches(li, q); if (!li.hidden) shownLines++; }
    showCount(q);
  }
  if (els.filter) els.filter.addEventListener("input", applyFilter);
  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }
  // A length of time as the server writes it: '0.4 s' under 10 s, else its two largest units.
  function span(fromTs, toTs) {
    const secs = Math.max(0, (Date.parse(toTs) - Date.parse(fromTs)) / 1000);
    if (isNaN(secs)) return "";
    if (secs < 9.95) return secs.toFixed(1) + " s";
    let rest = Math.floor(secs);
    const parts = [];
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]]) {
      if (rest >= size || parts.length) parts.push([Math.floor(rest / size), unit]);
      rest %= size;
    }
    return parts.slice(0, 2).filter(p => p[0]).map(p => p[0] + " " + p[1]).join(" ");
  }
  // A finished step says how long it took: from its own event to the next step or the end.
  function stepTook(li, untilTs) {
    const took = span(li.dataset.ts, untilTs);
    if (!took) return;
    li.appendChild(document.createTextNode(" · "));
    li.appendChild(text("span", took, "took muted"));
  }
  // Start and end that happen while the page is open ('2026-11-30 06:41:46 +00:00'; a reload shows the zone name).
  function stamp(dd, ts) {
    if (!dd || dd.dataset.iso) return;
    dd.dataset.iso = ts;
    dd.replaceChildren(text("time", ts.substring(0, 19).replace("T", " ") + " " + ts.substring(ts.length - 6)));
    dd.firstChild.setAttribute("datetime", ts);
  }
  function stampTimes(status, ts) {
    if (status === "running") stamp(els.started, ts);
    if (FINAL.includes(status)) {
      stamp(els.finished, ts);
      if (els.started && els.started.dataset.iso && els.duration) els.duration.textContent = span(els.started.dataset.iso, els.finished.dataset.iso);
    }
  }
  function addLog(ev) {
    const li = document.createElement("li");
    li.dataset.seq = ev.seq;
    li.className = "ev-" + ev.kind + (ev.data && ev.data.level ? " lvl-" + ev.data.level : "");
    li.appendChild(text("time", ev.ts.substring(11, 23)));
    if (ev.host) li.appendChild(text("span", ev.host, "host"));
    li.appendChild(text("span", ev.kind === "status" ? "status: " + ev.message : ev.message, "msg"));
    const q = query();  // a line arriving live obeys the filter in place
    li.hidden = !matches(li, q);
    if (!li.hidden) shownLines++;
    els.log.appendChild(li);
    showCount(q);
  }
  function apply(ev) {
    if (ev.seq <= lastSeq) return; // already shown
    lastSeq = ev.seq;
    const data = ev.data || {};
    if (typeof data.progress === "number") setProgress(data.progress);
    switch (ev.kind) {
      case "status":
        setStatus(data.status || ev.message);
        stampTimes(data.status || ev.message, ev.ts);
        if (data.error) { els.error.textContent = data.error; els.error.hidden = false; }
        break;
      case "progress":
        // A wait reports what it waits for (runner.waiting); a new step or the end clears it.
        if (els.waiting) els.waiting.textContent = ev.message || "";
        break;
      case "step": {
        if (els.waiting) els.waiting.textContent = "";
        els.step.textContent = ev.message;
        // Never ahead of this browser's clock, so a server clock ahead of it shows 0 s, not less.
        stepSince = Math.min(Date.now(), Date.parse(ev.ts));
        const prev = els.steps.querySelector("li.current");
        if (prev) { prev.className = "done"; stepTook(prev, ev.ts); }
        const li = document.createElement("li");
        li.className = "current";
        li.appendChild(text("span", ev.message, "name"));
        li.dataset.seq = ev.seq;
        li.dataset.ts = ev.ts;
        els.steps.appendChild(li);
        break;
      }
      case "host": {
        const tr = document.createElement("tr");
        tr.appendChild(text("td", ev.host));
        tr.appendChild(text("td", data.ok ? "ok" : "failed", data.ok ? "ok" : "bad"));
        tr.appendChild(text("td", ev.message));
        els.hosts.appendChild(tr);
        break;
      }
      case "error":
        els.error.textContent = ev.message;
        els.error.hidden = false;
        break;
    }
    if (FINAL.includes(data.status)) {
      if (els.waiting) els.waiting.textContent = "";
      const cur = els.steps.querySelector("li.current");
      if (cur) { cur.className = data.status === "succeeded" ? "done" : "stopped"; stepTook(cur, ev.ts); }
    }
    addLog(ev);
  }
  // While a step runs, its time so far ticks next to its name: a long wait visibly moves.
  const ticker = setInterval(function () {
    if (finished) { els.stepElapsed.textContent = ""; clearInterval(ticker); return; }
    if (stepSince === null || isNaN(stepSince)) return;
    const secs = Math.floor((Date.now() - stepSince) / 1000);
    els.stepElapsed.textContent = secs >= 2 ? "· " + span(new Date(stepSince).toISOString(), new Date().toISOString()) : "";
  }, 1000);
  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(proto + location.host + wsPath + "?after=" + lastSeq);
    ws.onopen = function () { els.live.textContent = "● live"; retryDelay = 500; };
    ws.onmessage = function (msg) {
      const payload = JSON.parse(msg.data);
      if (payload.type === "events") payload.events.forEach(apply);
    };
    ws.onclose = function () {
      els.live.textContent = finished ? "● complete" : "○ reconnecting";
      if (!finished) { setTimeout(connect, retryDelay); retryDelay = Math.min(retryDelay * 2, 10000); }
    };
  }
  connect();
})();
