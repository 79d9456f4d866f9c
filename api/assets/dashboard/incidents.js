// The incidents view: the list with its filters (status, severity, the
// tenant switcher, "assigned to me"), one incident's timeline with the
// correlator's reasons, and the actions the API offers on it (acknowledge,
// assign, comment, escalate, resolve with a note, reopen, silence, run a
// matching runbook). Actions show only to roles that may operate.
"use strict";

import {
  $, el, session, get, call, act, say, field, select, time, words,
  mayOperate, mayConfigure, myId, tenantParam, tenantName,
} from "./core.js";

const STATUS_AFTER = {
  IncidentAcknowledged: "acknowledged",
  IncidentAssigned: "in_progress",
  IncidentEscalated: "escalated",
  IncidentResolved: "resolved",
  IncidentReopened: "new",
};

const state = { rows: new Map(), selected: null, detail: null, runbooks: new Map(), users: null, bound: false, timers: {} };

function debounce(key, wait, action) {
  clearTimeout(state.timers[key]);
  // A failure shows in the connection status on the next load; a late
  // refresh after sign-out has nothing to show.
  state.timers[key] = setTimeout(() => Promise.resolve(action()).catch(() => {}), wait);
}

function filters() {
  return {
    status: $("incident-status").value,
    severity: $("incident-severity").value,
    mine: $("incident-mine").checked,
  };
}

/// Whether a row passes the filters: the list asks the API for them (but
/// "open"), and a row the stream changed is checked again here.
function passes(row) {
  const f = filters();
  if (f.status === "open" && row.status === "resolved") return false;
  if (f.status && f.status !== "open" && row.status !== f.status) return false;
  if (f.severity && row.severity !== f.severity) return false;
  if (f.mine && row.assignee !== myId()) return false;
  if (session.tenant && row.tenant_id !== session.tenant) return false;
  return true;
}

export async function show() {
  if (!state.bound) {
    state.bound = true;
    $("incident-filters").addEventListener("change", () => load());
    $("incident-filters").addEventListener("submit", (e) => e.preventDefault());
  }
  await load();
}

async function load() {
  const f = filters();
  let query = "/api/v1/incidents?sort=priority&limit=200" + tenantParam();
  if (f.status && f.status !== "open") query += "&status=" + f.status;
  if (f.severity) query += "&severity=" + f.severity;
  // The API picks the caller's incidents (`me` is whoever the token names),
  // so "assigned to me" is never cut short by the page size.
  if (f.mine) query += "&assignee=me";
  const page = await get(query);
  state.rows.clear();
  for (const row of page.items) state.rows.set(row.incident_id, row);
  render();
  if (state.selected) await refreshIncident(state.selected);
}

function render() {
  const rows = [...state.rows.values()].filter(passes).sort(
    (a, b) => (b.priority_score - a.priority_score) || String(b.opened_at).localeCompare(String(a.opened_at)));
  $("no-incidents").hidden = rows.length > 0;
  $("incident-rows").replaceChildren(...rows.map((row) => el("tr", {
    class: "incident sev-" + row.severity + (state.selected === row.incident_id ? " selected" : ""),
    "data-incident-id": row.incident_id,
    "aria-selected": state.selected === row.incident_id ? "true" : null,
  },
    el("td", { class: "priority", text: row.priority_score }),
    el("td", {}, el("span", { class: "badge sev-" + row.severity, text: row.severity })),
    el("td", {}, el("button", {
      type: "button", class: "link", onclick: () => selectIncident(row.incident_id),
      "aria-label": "Show incident " + row.asset + " " + row.signature,
    }, row.asset)),
    el("td", { text: row.signature }),
    el("td", {}, el("span", { class: "status status-" + row.status, text: words(row.status) }),
      row.assignee === myId() && row.assignee ? el("span", { class: "subtle", text: " (mine)" }) : null),
    el("td", { text: row.alert_count == null ? 1 : row.alert_count }),
    el("td", {}, time(row.opened_at, false, true)))));
}

async function selectIncident(id) {
  state.selected = id;
  render();
  say($("incident-message"), "");
  await refreshIncident(id);
  const heading = $("timeline-summary");
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

// The stream can announce an event a moment before the read models have it
// (they follow the log on their own): ask again a few times, a little later
// each time, for at most about 16 s in all.
const READ_MODEL_RETRIES = 6;

async function refreshIncident(id, attempt, position) {
  const tries = attempt || 0;
  const again = () => {
    if (state.selected === id && state.rows.has(id) && tries < READ_MODEL_RETRIES) {
      debounce("retry-" + id, 250 * 2 ** tries, () => refreshIncident(id, tries + 1, position));
    }
  };
  let detail;
  try {
    detail = await get("/api/v1/incidents/" + encodeURIComponent(id));
  } catch (error) {
    if (error.status !== 404) throw error;
    again();
    return;
  }
  // An event that adds no timeline entry only costs these few retries.
  if (position && !detail.timeline.some((entry) => entry.position >= position)) again();
  const { timeline, ...row } = detail;
  state.rows.set(id, { ...(state.rows.get(id) || {}), ...row });
  render();
  if (state.selected === id) {
    const first = !state.detail || state.detail.incident_id !== id;
    state.detail = detail;
    renderDetail(detail, first);
  }
}

function reasonText(reason) {
  if (!reason) return null;
  if (typeof reason === "string") return reason;
  return reason.explanation || JSON.stringify(reason);
}

function renderDetail(detail, first) {
  $("timeline-empty").hidden = true;
  $("timeline-detail").hidden = false;
  $("timeline-summary").textContent = detail.asset + " · " + detail.signature;
  const facts = [
    ["Status", words(detail.status)],
    ["Severity", detail.severity],
    ["Priority", detail.priority_score],
    ["Tenant", tenantName(detail.tenant_id)],
    ["Assignee", detail.assignee ? (detail.assignee === myId() ? "me" : detail.assignee) : "nobody"],
    ["Tools", (detail.tool_sources || []).join(", ")],
    ["Alerts", String(detail.alert_count) + (detail.resolved_alert_count ? " (" + detail.resolved_alert_count + " resolved)" : "")],
  ];
  $("incident-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  // Forms keep what the person typed while live updates redraw the rest.
  if (first || !$("incident-actions").firstChild) renderActions(detail);
  else updateActions(detail);
  $("timeline-entries").replaceChildren(...detail.timeline.map((entry) => {
    const reason = reasonText(entry.correlation_reason);
    return el("li", { class: "entry" },
      time(entry.at), " ", el("strong", { text: entry.event_type }), " ",
      el("span", { text: entry.summary || "" }),
      entry.actor ? el("span", { class: "subtle", text: " — " + entry.actor }) : null,
      reason ? el("p", { class: "reason" }, el("span", { class: "reason-label", text: "Why: " }), reason) : null);
  }));
}

function command(path, body, done) {
  const id = state.selected;
  return (event) => {
    const button = event.currentTarget;
    return act($("incident-message"), button, async () => {
      const result = await call("/api/v1/incidents/" + encodeURIComponent(id) + "/" + path, "POST", body ? body() : {});
      await refreshIncident(id);
      return result;
    }, done);
  };
}

function miniForm(name, label, control, buttonText, onsubmit) {
  return el("form", {
    class: "mini-form", "data-action": name,
    onsubmit: async (event) => {
      event.preventDefault();
      const button = event.currentTarget.querySelector("button[type=submit]");
      const ok = await onsubmit(button);
      if (ok !== undefined) event.target.reset();
    },
  }, field(label, control), el("button", { type: "submit", text: buttonText }));
}

function renderActions(detail) {
  const box = $("incident-actions");
  if (!mayOperate()) {
    box.replaceChildren(el("p", { class: "subtle", text: "Your role (" + words(session.me.role) + ") may read incidents but not act on them." }));
    return;
  }
  const id = detail.incident_id;
  const post = (path, body, done) => (button) => act($("incident-message"), button, async () => {
    const result = await call("/api/v1/incidents/" + encodeURIComponent(id) + "/" + path, "POST", body());
    await refreshIncident(id);
    return result ?? true;
  }, done);

  const assignee = el("input", { name: "assignee", list: "user-choices", autocomplete: "off", placeholder: "user id" });
  const comment = el("textarea", { name: "text", rows: 2, required: true });
  const escalate = el("input", { name: "reason", required: true });
  const note = el("input", { name: "note" });
  const silenceMinutes = select("duration_minutes", [["60", "1 hour"], ["240", "4 hours"], ["1440", "1 day"], ["10080", "7 days"]], "60");
  const silenceReason = el("input", { name: "reason" });
  const runbook = el("select", { name: "runbook" });

  box.replaceChildren(
    el("div", { class: "buttons" },
      el("button", { type: "button", "data-action": "acknowledge", onclick: command("acknowledge", null, "Acknowledged.") }, "Acknowledge"),
      el("button", { type: "button", "data-action": "assign-me", onclick: command("assign", () => ({ assignee: myId() }), "Assigned to you.") }, "Assign to me"),
      el("button", { type: "button", "data-action": "reopen", class: "quiet", onclick: command("reopen", () => ({}), "Reopened.") }, "Reopen")),
    el("datalist", { id: "user-choices" }),
    miniForm("assign", "Assign to", assignee, "Assign", post("assign", () => ({ assignee: assignee.value.trim() }), "Assigned.")),
    miniForm("comment", "Comment", comment, "Add comment", post("comment", () => ({ text: comment.value }), "Comment added.")),
    miniForm("resolve", "Resolution note", note, "Resolve", post("resolve", () => (note.value.trim() ? { note: note.value.trim() } : {}), "Resolved.")),
    miniForm("escalate", "Escalation reason", escalate, "Escalate", post("escalate", () => ({ reason: escalate.value }), "Escalated.")),
    el("form", {
      class: "mini-form", "data-action": "silence",
      onsubmit: (event) => {
        event.preventDefault();
        const body = { duration_minutes: Number(silenceMinutes.value) };
        if (silenceReason.value.trim()) body.reason = silenceReason.value.trim();
        post("silence", () => body, "Silenced: new alerts with this incident's key are held by a maintenance window.")(event.submitter);
      },
    }, field("Silence for", silenceMinutes), field("Reason", silenceReason), el("button", { type: "submit", text: "Silence" })),
    el("form", {
      class: "mini-form", "data-action": "runbook",
      onsubmit: (event) => {
        event.preventDefault();
        if (!runbook.value) return;
        act($("incident-message"), event.submitter,
          () => call("/api/v1/runbooks/" + encodeURIComponent(runbook.value) + "/execute", "POST", { incident_id: id }),
          (answer) => (answer.approval_id
            ? "The runbook's risk needs an approval: request " + String(answer.approval_id).slice(0, 8) + " waits under Approvals."
            : "Execution " + String(answer.execution_id || answer.id).slice(0, 8) + " requested."));
      },
    }, field("Matching runbook", runbook), el("button", { type: "submit", text: "Run runbook" })));
  updateActions(detail);
  loadRunbooks(detail, runbook);
  loadUsers();
}

/// Shows only the actions that fit the incident's status.
function updateActions(detail) {
  const box = $("incident-actions");
  const resolved = detail.status === "resolved";
  const show = (name, visible) => {
    const node = box.querySelector("[data-action=" + name + "]");
    if (node) node.hidden = !visible;
  };
  show("acknowledge", detail.status === "new");
  show("assign-me", !resolved && detail.assignee !== myId());
  show("reopen", resolved);
  for (const name of ["assign", "resolve", "escalate", "silence", "runbook"]) show(name, !resolved);
}

async function loadRunbooks(detail, select) {
  const tenant = detail.tenant_id;
  if (!state.runbooks.has(tenant)) {
    const page = await get("/api/v1/runbooks?limit=500&tenant=" + encodeURIComponent(tenant)).catch(() => ({ items: [] }));
    state.runbooks.set(tenant, page.items || []);
  }
  const matching = state.runbooks.get(tenant).filter((r) => !r.retired && r.signature === detail.signature);
  select.replaceChildren(...(matching.length
    ? matching.map((r) => el("option", { value: r.runbook_id || r.id, text: r.name + " (" + r.risk + " risk)" }))
    : [el("option", { value: "", text: "No runbook for " + detail.signature })]));
  select.disabled = !matching.length;
}

async function loadUsers() {
  // Only user administrators may list users; others type an id.
  if (!mayConfigure()) return;
  if (!state.users) {
    const page = await get("/api/v1/users").catch(() => ({ items: [] }));
    state.users = page.items || [];
  }
  const list = $("user-choices");
  if (list) list.replaceChildren(...state.users.filter((u) => !u.disabled).map((u) => el("option", { value: u.id, text: u.name + " <" + u.email + ">" })));
}

/// Forgets what the previous person saw (called on sign-out).
export function reset() {
  for (const timer of Object.values(state.timers)) clearTimeout(timer);
  state.timers = {};
  state.rows.clear();
  state.selected = null;
  state.detail = null;
  state.runbooks.clear();
  state.users = null;
  $("incident-rows").replaceChildren();
  $("incident-actions").replaceChildren();
  $("timeline-detail").hidden = true;
  $("timeline-empty").hidden = false;
}

// ---- live updates -----------------------------------------------------------

export function onEvent(event) {
  if (event.aggregate_type === "Runbook") state.runbooks.clear();
  if (event.aggregate_type === "User") state.users = null;
  if (event.aggregate_type !== "Incident") return;
  const body = event.payload && event.payload[event.event_type];
  const id = event.aggregate_id;
  // Applies what the event itself says at once, then asks the read model
  // (which may trail the log by a moment) for the whole row.
  if (event.event_type === "IncidentOpened" && body) {
    state.rows.set(id, {
      incident_id: id, tenant_id: event.tenant_id, asset: body.asset, signature: body.signature,
      severity: body.severity, status: "new", priority_score: body.priority, alert_count: 1,
      tool_sources: [body.tool_source], opened_at: body.at || event.at,
    });
  } else if (state.rows.has(id)) {
    const row = state.rows.get(id);
    if (event.event_type === "PriorityChanged" && body) row.priority_score = body.to;
    if (event.event_type === "AlertAttached") row.alert_count = (row.alert_count || 1) + 1;
    if (STATUS_AFTER[event.event_type]) row.status = STATUS_AFTER[event.event_type];
    if (event.event_type === "IncidentAssigned" && body && body.assignee) row.assignee = body.assignee;
  }
  render();
  if (state.rows.has(id) || state.selected === id) {
    debounce("incident-" + id, 300, () => refreshIncident(id, 0, event.position));
  }
}
