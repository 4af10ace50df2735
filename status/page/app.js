// The failover status page: reads the JSON API and follows the event
// stream. Every string from the server goes into the page as text
// (textContent), never as markup.
"use strict";

const maxEvents = 200;
let token = "";
let lastEvent = 0;
let refreshTimer = null;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function headers() {
  return token ? { Authorization: "Bearer " + token } : {};
}

async function api(path) {
  const resp = await fetch(path, { headers: headers(), cache: "no-store" });
  if (resp.status === 401) {
    showLogin();
    throw new Error("a token is required");
  }
  if (!resp.ok) throw new Error(path + ": " + resp.status + " " + resp.statusText);
  return resp.json();
}

function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return Math.round(s) + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  if (s < 86400) return (s / 3600).toFixed(1) + "h ago";
  return (s / 86400).toFixed(1) + "d ago";
}

function ms(seconds) {
  if (!seconds) return "–";
  return seconds < 0.01 ? (seconds * 1000).toFixed(2) + " ms" : Math.round(seconds * 1000) + " ms";
}

function pct(x) {
  return (x * 100).toFixed(x >= 0.999 || x === 0 ? 0 : 1) + " %";
}

function renderPool(p) {
  const card = el("article", "pool");
  card.dataset.pool = p.name;
  const head = el("div", "pool-head");
  head.append(el("span", "pool-name", p.names.join(" ")), el("span", "mode " + p.mode, p.mode.replace("_", " ")));
  const meta = el("span", "meta", "policy " + p.policy + " · ttl " + p.ttl + "s · all_down " + p.all_down + " · " + p.server_block);
  head.append(meta);
  card.append(head);
  const answers = el("div", "answers");
  for (const fam of ["A", "AAAA"]) {
    if (!p.answers[fam]) continue;
    answers.append(fam + " ");
    answers.append(el("code", "", p.answers[fam].length ? p.answers[fam].join(" ") : "(none)"));
    answers.append("  ");
  }
  card.append(answers);
  const table = el("table");
  const hr = el("tr");
  for (const h of ["target", "state", "since", "priority", "rtt", "uptime 1h / 24h", "last failure"]) hr.append(el("th", "", h));
  table.append(hr);
  for (const t of p.targets) {
    const tr = el("tr");
    tr.dataset.target = t.address;
    const addr = el("td", "", t.address);
    if (t.probe !== t.address || t.probe_port) addr.title = "probed at " + t.probe + (t.probe_port ? ":" + t.probe_port : "");
    const state = el("td");
    state.append(el("span", "state " + t.state, t.state));
    if (t.override) state.append(el("span", "tag override", t.override));
    if (t.held) state.append(el("span", "tag held", "held"));
    else if (t.hold_until) state.append(el("span", "tag held", "hold until " + new Date(t.hold_until).toLocaleTimeString()));
    if (t.slow) state.append(el("span", "tag slow", "slow"));
    const since = el("td", "", ago(t.since));
    if (t.since) since.title = t.since;
    const fail = el("td", "reason");
    if (t.last_failure && t.state !== "up") {
      fail.textContent = t.last_failure.reason + (t.last_failure.detail ? ": " + t.last_failure.detail : "");
      fail.title = t.last_failure.check;
    }
    if (t.steering) fail.append(el("div", "steering", t.steering));
    if (t.fleet) fail.append(fleetLine(t.fleet));
    tr.append(addr, state, since, el("td", "num", t.priority), el("td", "num", ms(t.rtt_seconds)),
      el("td", "num", pct(t.uptime.hour) + " / " + pct(t.uptime.day)), fail);
    table.append(tr);
  }
  card.append(table);
  return card;
}

// fleetLine says who decides a target in a fleet: each prober and its
// verdict, the quorum, and whether this replica probes it or decides alone.
function fleetLine(f) {
  const line = el("div", "fleet");
  if (f.mode !== "fleet" || f.alone) {
    line.append(el("span", "tag alone", f.mode === "fleet" ? "alone" : f.mode));
  }
  line.append("probers (quorum " + f.quorum + "): ");
  f.probers.forEach((p, i) => {
    if (i > 0) line.append(", ");
    const who = el("span", "prober " + p.state, p.member + (p.member === f.member ? " (here)" : "") + " " + p.state);
    if (p.reason) who.title = p.reason + (p.detail ? ": " + p.detail : "");
    line.append(who);
  });
  if (f.probed_here && !f.probers.some(p => p.member === f.member)) line.append("; probed here too");
  return line;
}

async function refresh() {
  try {
    const body = await api("api/v1/status");
    const section = document.getElementById("pools");
    section.replaceChildren(...body.pools.map(renderPool));
    let up = 0, all = 0;
    for (const p of body.pools) for (const t of p.targets) { all++; if (t.state === "up") up++; }
    document.getElementById("summary").textContent = body.pools.length + " pools · " + up + " of " + all + " targets up";
    hideError();
  } catch (e) {
    showError(e.message);
  }
}

function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
}

function describe(e) {
  const who = [e.pool, e.target].filter(Boolean).join(" ");
  switch (e.type) {
    case "target_down": return who + ": " + e.reason + (e.detail ? " (" + e.detail + ")" : "");
    case "answer_changed": return who + " " + e.family + ": " + (e.old || []).join(" ") + " → " + (e.new || []).join(" ");
    case "all_down_engaged": case "all_down_cleared": return who + " " + e.family + " (all_down " + e.policy + ")";
    case "override_applied": case "override_lifted": return who + ": " + e.action + (e.reason ? " (" + e.reason + ")" : "");
    case "slow_started": case "slow_ended": return who + ": " + e.detail;
    case "hold_started": return who + (e.until ? " until " + new Date(e.until).toLocaleTimeString() : " (manual)");
    case "config_loaded": return (e.server || "") + ": +" + (e.pools_added || []).length + " / −" + (e.pools_removed || []).length + " pools";
    default: return who;
  }
}

function addEvent(e) {
  lastEvent = Math.max(lastEvent, e.id);
  const li = el("li", e.type);
  li.dataset.id = e.id;
  const when = el("time", "", new Date(e.time).toLocaleString());
  when.dateTime = e.time;
  li.append(when, el("span", "type", e.type.replace(/_/g, " ")), " ", el("span", "", describe(e)));
  const list = document.getElementById("events");
  list.prepend(li);
  while (list.children.length > maxEvents) list.lastChild.remove();
}

async function loadEvents() {
  const newest = await api("api/v1/events?limit=1&since=18446744073709551614");
  const from = Math.max(0, newest.last - 50);
  const body = await api("api/v1/events?since=" + from + "&limit=50");
  for (const e of body.events) addEvent(e);
}

// follow reads the Server-Sent Events stream with fetch (EventSource cannot
// send a token), and reconnects from the last event it saw: at once when the
// server ended a stream that ran a while (streams have a bounded lifetime),
// after a pause when it failed.
async function follow() {
  const live = document.getElementById("live");
  for (;;) {
    const opened = Date.now();
    let ended = false;
    try {
      const resp = await fetch("api/v1/events/stream?since=" + lastEvent, { headers: headers(), cache: "no-store" });
      if (!resp.ok || !resp.body) throw new Error("stream: " + resp.status);
      live.className = "live on";
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) { ended = true; break; }
        buf += value;
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          for (const line of block.split("\n")) {
            if (!line.startsWith("data: ")) continue;
            const e = JSON.parse(line.slice(6));
            if (e.id < lastEvent) {
              // the server restarted: its IDs begin again
              document.getElementById("events").replaceChildren();
              lastEvent = 0;
            }
            if (e.id > lastEvent) { addEvent(e); scheduleRefresh(); }
          }
        }
      }
    } catch (e) {
      // the server is away or restarting: try again shortly
    }
    if (ended && Date.now() - opened > 30000) continue;
    live.className = "live off";
    await new Promise((r) => setTimeout(r, 2000));
    refresh();
  }
}

function showError(msg) {
  const p = document.getElementById("error");
  p.textContent = msg;
  p.hidden = false;
}

function hideError() { document.getElementById("error").hidden = true; }

function showLogin() {
  const form = document.getElementById("login");
  form.hidden = false;
  form.onsubmit = (ev) => {
    ev.preventDefault();
    token = document.getElementById("token").value;
    sessionStorage.setItem("failover-token", token);
    form.hidden = true;
    start();
  };
}

async function start() {
  try {
    await refresh();
    await loadEvents();
    follow();
  } catch (e) {
    showError(e.message);
  }
}

const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) {
  token = fromHash;
  sessionStorage.setItem("failover-token", token);
  history.replaceState(null, "", location.pathname); // keep it out of the address bar
} else {
  token = sessionStorage.getItem("failover-token") || "";
}
setInterval(() => { if (!document.hidden) scheduleRefresh(); }, 5000); // "since" and uptime move on
start();
