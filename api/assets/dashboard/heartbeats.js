// Settings: a tenant's heartbeats, each with its state (ok or missed), its
// last beat and its timeout, and how to register one. A beat is sent by the
// monitored job with one of the tenant's API keys (the first beat registers
// the heartbeat), so the page shows the command with this server's URL and a
// placeholder for the key: the page never holds a key.
"use strict";

import { $, el, get, act, field, time, duration, section } from "./core.js";

const state = { tenant: null };

export function sections() {
  const form = el("form", { id: "heartbeat-form", class: "grid-form", onsubmit: (e) => { e.preventDefault(); renderCommand(); } },
    field("Heartbeat name", el("input", { name: "name", id: "heartbeat-name", value: "nightly-backup", pattern: "[A-Za-z0-9._-]{1,128}", required: true }), "Letters, digits, dot, underscore, hyphen."),
    field("Timeout (seconds)", el("input", { name: "timeout_seconds", id: "heartbeat-timeout", type: "number", min: 5, max: 604800, value: 300, required: true }), "A miss is declared when no beat comes for this long."),
    el("div", { class: "buttons form-end" }, el("button", { type: "submit", text: "Show the command" })));
  form.addEventListener("input", () => { if (form.checkValidity()) renderCommand(); });
  return [section("set-heartbeats", "Heartbeats",
    el("p", { class: "hint", text: "A job that should run regularly sends a beat; when beats stop for longer than the timeout, alertledger raises a heartbeat_missed alert." }),
    el("table", { class: "compact" },
      el("caption", { class: "visually-hidden", text: "Heartbeats of this tenant" }),
      el("thead", {}, el("tr", {}, ...["Name", "State", "Last beat", "Timeout", "Asset"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", { id: "heartbeat-rows" })),
    el("p", { id: "no-heartbeats", class: "empty", text: "No heartbeat yet: the first beat registers one." }),
    el("div", { class: "buttons" }, el("button", { type: "button", class: "quiet small", id: "heartbeat-refresh", onclick: (e) => act($("set-heartbeats-message"), e.currentTarget, () => load(state.tenant), "Heartbeats reloaded.") }, "Reload")),
    el("h4", { text: "Register a heartbeat" }),
    form,
    el("p", { class: "hint", text: "Run this from the job (cron, a backup script, …) each time it completes. Put one of this tenant's API keys (see API keys) in ALERTLEDGER_API_KEY; the key is not shown here." }),
    el("pre", { id: "heartbeat-command", class: "commands", tabindex: "0", "aria-label": "Command that sends a beat" }))];
}

function shellQuote(text) {
  return "'" + String(text).replace(/'/g, "'\\''") + "'";
}

/// The beat command for the form's values, with this server's URL.
function renderCommand() {
  const f = $("heartbeat-form").elements;
  const url = location.origin + "/api/v1/heartbeats/" + encodeURIComponent(f.name.value.trim());
  const body = JSON.stringify({ timeout_seconds: Number(f.timeout_seconds.value) });
  $("heartbeat-command").textContent = "curl -fsS -X POST " + shellQuote(url) + " \\\n"
    + "  -H \"X-API-Key: $ALERTLEDGER_API_KEY\" \\\n"
    + "  -H 'Content-Type: application/json' \\\n"
    + "  -d " + shellQuote(body);
}

export async function load(tenant) {
  state.tenant = tenant;
  if (!$("heartbeat-command").textContent) renderCommand();
  const page = await get("/api/v1/heartbeats?limit=500&tenant=" + encodeURIComponent(tenant));
  const items = page.items || [];
  $("no-heartbeats").hidden = items.length > 0;
  $("heartbeat-rows").replaceChildren(...items.map((h) => el("tr", { "data-heartbeat": h.name },
    el("td", {}, el("code", { text: h.name })),
    el("td", {}, el("span", { class: h.status === "ok" ? "badge on" : "badge sev-critical", text: h.status })),
    el("td", {}, time(h.last_seen_at, true)),
    el("td", { text: duration(h.timeout_seconds) }),
    el("td", { text: h.asset || "" }))));
}
