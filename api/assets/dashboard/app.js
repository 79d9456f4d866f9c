// alertledger's built-in dashboard: signs in with a pasted token, reads the
// REST API, and follows GET /api/v1/stream (Server-Sent Events), resuming
// after the last event id whenever the connection drops.
"use strict";

(function () {
  const TOKEN_KEY = "alertledger.token";
  const TICKER_MAX = 60;
  // Stored event types the stream may send (the `event:` field).
  const EVENT_TYPES = [
    "AlertReceived", "AlertAcknowledged", "AlertCorrelated", "AlertResolvedBySource",
    "IncidentOpened", "AlertAttached", "PriorityChanged", "IncidentAcknowledged",
    "IncidentAssigned", "IncidentCommented", "IncidentEscalated", "IncidentResolved",
    "IncidentReopened", "IncidentAlertResolved", "AllAlertsResolved",
    "ApprovalRequested", "ApprovalGranted", "ApprovalRejected", "ApprovalExpired",
    "ExecutionRequested", "ExecutionDispatched", "InvocationUpdated",
    "ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut",
    "DeliveryRejected",
  ];
  const STATUS_AFTER = {
    IncidentAcknowledged: "acknowledged",
    IncidentAssigned: "in_progress",
    IncidentEscalated: "escalated",
    IncidentResolved: "resolved",
    IncidentReopened: "new",
  };
  const APPROVER_RISKS = {
    msp_admin: ["low", "medium", "high"],
    tenant_admin: ["low", "medium"],
    technician: ["low"],
    viewer: [],
  };

  const state = {
    token: null,
    user: null,
    incidents: new Map(),
    selected: null,
    lastEventId: null,
    source: null,
    retryDelay: 1000,
    reconnectTimer: null,
    timers: {},
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child == null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setConnection(text, kind) {
    const node = $("connection");
    node.textContent = text;
    node.dataset.kind = kind || "";
  }

  // The token's claims, for display and for hiding buttons the server would
  // refuse anyway (the server decides; this only spares a useless click).
  function claimsOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    } catch (_) {
      return null;
    }
  }

  async function api(path, options) {
    const response = await fetch(path, {
      ...(options || {}),
      headers: {
        Authorization: "Bearer " + state.token,
        "Content-Type": "application/json",
        ...((options && options.headers) || {}),
      },
    });
    if (response.status === 401) {
      signOut("Your token was refused or has expired; paste a fresh one.");
      throw new Error("unauthorized");
    }
    return response;
  }

  async function json(path) {
    const response = await api(path);
    if (!response.ok) throw new Error(path + " answered " + response.status);
    return response.json();
  }

  // ---- sign-in -----------------------------------------------------------

  async function signIn(token) {
    state.token = token.trim();
    const claims = claimsOf(state.token);
    if (!claims) {
      $("sign-in-error").textContent = "That does not look like a JWT.";
      return;
    }
    const probe = await fetch("/api/v1/kpis", { headers: { Authorization: "Bearer " + state.token } });
    if (!probe.ok) {
      $("sign-in-error").textContent = probe.status === 401
        ? "The server refused this token (invalid or expired)."
        : "The server answered " + probe.status + ".";
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, state.token);
    state.user = claims;
    $("sign-in-error").textContent = "";
    $("sign-in").hidden = true;
    $("board").hidden = false;
    $("sign-out").hidden = false;
    const who = $("who");
    who.hidden = false;
    who.textContent = (claims.name || claims.sub) + " · " + String(claims.role || "").replace("_", " ");
    await Promise.all([loadKpis(), loadIncidents(), loadApprovals()]);
    connect();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.source) state.source.close();
    clearTimeout(state.reconnectTimer);
    state.source = null;
    state.token = null;
    state.lastEventId = null;
    state.incidents.clear();
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("who").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    setConnection("Signed out", "off");
  }

  // ---- KPIs ----------------------------------------------------------------

  function duration(seconds) {
    if (seconds == null) return "–";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  // Refused webhook deliveries kept for the caller's tenants: a tool whose
  // deliveries are refused loses alerts, so the count stays in sight. One
  // page (up to 500) is counted; more shows as "500+".
  async function rejectedDeliveries() {
    const response = await api("/api/v1/deliveries?status=rejected&limit=500");
    if (!response.ok) return "–";
    const page = await response.json();
    return String(page.items.length) + (page.next_cursor ? "+" : "");
  }

  async function loadKpis() {
    const today = new Date().toISOString().slice(0, 10);
    const [kpis, rejected] = await Promise.all([
      json("/api/v1/kpis?from=" + today + "&to=" + today),
      rejectedDeliveries(),
    ]);
    const cards = [
      ["Alerts", kpis.alerts],
      ["Incidents", kpis.incidents],
      ["Noise reduction", kpis.noise_reduction_pct == null ? "–" : kpis.noise_reduction_pct.toFixed(1) + " %"],
      ["MTTA", duration(kpis.mtta_seconds)],
      ["MTTR", duration(kpis.mttr_seconds)],
      ["Self-healed", kpis.auto_remediated],
      ["Approvals pending", kpis.approvals_pending],
      ["Rejected deliveries", rejected, "rejected-deliveries"],
    ];
    $("kpi-cards").replaceChildren(
      ...cards.map(([label, value, id]) =>
        el("li", { class: "card", ...(id ? { id } : {}) },
          el("span", { class: "label", text: label }), el("span", { class: "value", text: value })))
    );
  }

  // ---- incidents -------------------------------------------------------------

  async function loadIncidents() {
    const page = await json("/api/v1/incidents?sort=priority&limit=200");
    state.incidents.clear();
    for (const row of page.items) {
      if (row.status !== "resolved") state.incidents.set(row.incident_id, row);
    }
    renderIncidents();
  }

  async function refreshIncident(id) {
    const response = await api("/api/v1/incidents/" + encodeURIComponent(id));
    if (!response.ok) return;
    const detail = await response.json();
    const { timeline, ...row } = detail;
    if (row.status === "resolved") state.incidents.delete(id);
    else state.incidents.set(id, { ...(state.incidents.get(id) || {}), ...row });
    renderIncidents();
    if (state.selected === id) renderTimeline(detail);
  }

  function renderIncidents() {
    const rows = [...state.incidents.values()].sort(
      (a, b) => (b.priority_score - a.priority_score) || String(b.opened_at).localeCompare(String(a.opened_at))
    );
    $("no-incidents").hidden = rows.length > 0;
    $("incident-rows").replaceChildren(...rows.map((row) => {
      const open = () => selectIncident(row.incident_id);
      const tr = el("tr", {
        class: "incident sev-" + row.severity + (state.selected === row.incident_id ? " selected" : ""),
        "data-incident-id": row.incident_id,
      },
        el("td", { class: "priority", text: row.priority_score }),
        el("td", {}, el("span", { class: "badge sev-" + row.severity, text: row.severity })),
        el("td", {}, el("button", { type: "button", class: "link", onclick: open, "aria-label": "Show timeline of " + row.asset + " " + row.signature }, row.asset)),
        el("td", { text: row.signature }),
        el("td", { text: String(row.status).replace("_", " ") }),
        el("td", { text: row.alert_count == null ? 1 : row.alert_count }),
        el("td", {}, el("time", { datetime: row.opened_at, text: new Date(row.opened_at).toLocaleTimeString() }))
      );
      return tr;
    }));
  }

  async function selectIncident(id) {
    state.selected = id;
    renderIncidents();
    await refreshIncident(id);
  }

  function reasonText(reason) {
    if (!reason) return null;
    if (typeof reason === "string") return reason;
    return reason.explanation || JSON.stringify(reason);
  }

  function renderTimeline(detail) {
    $("timeline-empty").hidden = true;
    $("timeline-detail").hidden = false;
    $("timeline-summary").textContent =
      detail.asset + " · " + detail.signature + " · priority " + detail.priority_score +
      " · tools: " + (detail.tool_sources || []).join(", ");
    $("timeline-entries").replaceChildren(...detail.timeline.map((entry) => {
      const reason = reasonText(entry.correlation_reason);
      return el("li", { class: "entry" },
        el("time", { datetime: entry.at, text: new Date(entry.at).toLocaleTimeString() }),
        " ",
        el("strong", { text: entry.event_type }),
        " ",
        el("span", { text: entry.summary || "" }),
        entry.actor ? el("span", { class: "subtle", text: " — " + entry.actor }) : null,
        reason ? el("p", { class: "reason" }, el("span", { class: "reason-label", text: "Why: " }), reason) : null
      );
    }));
  }

  // ---- approvals -------------------------------------------------------------

  async function loadApprovals() {
    const message = $("approvals-message");
    const list = $("approval-list");
    let response;
    try {
      response = await api("/api/v1/approvals?status=pending");
    } catch (error) {
      if (error.message === "unauthorized") return;
      message.textContent = "Approvals could not be loaded.";
      return;
    }
    if (response.status === 404) {
      list.replaceChildren();
      message.textContent = "This server does not offer approvals yet.";
      return;
    }
    if (!response.ok) {
      message.textContent = "Approvals could not be loaded (" + response.status + ").";
      return;
    }
    const page = await response.json();
    const items = page.items || [];
    message.textContent = items.length ? "" : "Nothing waits for approval.";
    const mayApprove = APPROVER_RISKS[state.user && state.user.role] || [];
    list.replaceChildren(...items.map((approval) => {
      const id = approval.approval_id || approval.id;
      const risk = approval.risk || "unknown";
      // The approvals list gives the requester's user id and name as plain fields.
      const requesterId = typeof approval.requested_by === "string"
        ? approval.requested_by
        : approval.requested_by && approval.requested_by.user_id;
      const requester = approval.requester_name || requesterId;
      // Nobody decides their own request (the server refuses it too).
      const canDecide = mayApprove.includes(risk) && requesterId !== (state.user && state.user.sub);
      const decide = (verdict) => async () => {
        const response = await api("/api/v1/approvals/" + encodeURIComponent(id) + "/" + verdict, {
          method: "POST",
          body: JSON.stringify({ reason: "decided on the dashboard" }),
        });
        if (!response.ok) {
          const body = await response.json().catch(() => ({}));
          message.textContent = (body.error && body.error.message) || ("The server answered " + response.status + ".");
        }
        loadApprovals();
      };
      return el("li", { class: "approval risk-" + risk },
        el("p", {},
          el("span", { class: "badge risk-" + risk, text: risk + " risk" }), " ",
          el("strong", { text: approval.runbook_name || approval.runbook_id || "runbook" }),
          " for incident ", el("code", { text: String(approval.incident_id || "").slice(0, 8) })),
        el("p", { class: "subtle", text: "Requested by " + (requester || "someone") + (approval.expires_at ? "; expires " + new Date(approval.expires_at).toLocaleTimeString() : "") }),
        canDecide
          ? el("div", { class: "actions" },
              el("button", { type: "button", class: "approve", onclick: decide("approve") }, "Approve"),
              el("button", { type: "button", class: "reject", onclick: decide("reject") }, "Reject"))
          : el("p", { class: "subtle", text: "Your role may not decide this request." })
      );
    }));
  }

  // ---- live feed -------------------------------------------------------------

  function connect() {
    if (!state.token) return;
    if (state.source) state.source.close();
    let url = "/api/v1/stream?token=" + encodeURIComponent(state.token);
    // EventSource sends Last-Event-ID by itself when *it* reconnects; a new
    // EventSource (after an error it gave up on, or a resync) resumes here.
    if (state.lastEventId) url += "&after=" + encodeURIComponent(state.lastEventId);
    const source = new EventSource(url);
    state.source = source;
    setConnection("Connecting…", "wait");
    source.onopen = () => {
      state.retryDelay = 1000;
      setConnection("Live", "on");
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        setConnection("Disconnected; retrying…", "wait");
        scheduleReconnect();
      } else {
        setConnection("Reconnecting…", "wait");
      }
    };
    for (const type of EVENT_TYPES) source.addEventListener(type, onEvent);
    source.addEventListener("resync", (message) => {
      const data = JSON.parse(message.data);
      if (data.last_event_id) state.lastEventId = data.last_event_id;
      source.close();
      // Fell behind: catch up from the last event seen, then reload the views.
      setConnection("Catching up…", "wait");
      connect();
      loadIncidents();
      loadKpis();
    });
    source.addEventListener("token_expired", () => {
      source.close();
      signOut("Your token has expired; paste a fresh one.");
    });
    source.addEventListener("shutdown", () => {
      source.close();
      setConnection("Server restarting; reconnecting…", "wait");
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, state.retryDelay);
    state.retryDelay = Math.min(state.retryDelay * 2, 30000);
  }

  function debounce(key, wait, action) {
    clearTimeout(state.timers[key]);
    state.timers[key] = setTimeout(action, wait);
  }

  function onEvent(message) {
    const event = JSON.parse(message.data);
    state.lastEventId = message.lastEventId || String(event.position);
    addToTicker(event);
    const body = event.payload && event.payload[event.event_type];
    if (event.aggregate_type === "Incident") applyIncidentEvent(event, body);
    if (event.aggregate_type === "Approval") debounce("approvals", 300, loadApprovals);
    if (["Alert", "Incident", "Approval", "Execution", "Delivery"].includes(event.aggregate_type)) {
      debounce("kpis", 1500, loadKpis);
    }
  }

  // Applies what the event itself says at once, then asks the read model
  // (which may trail the log by a moment) for the whole row.
  function applyIncidentEvent(event, body) {
    const id = event.aggregate_id;
    if (event.event_type === "IncidentOpened" && body) {
      state.incidents.set(id, {
        incident_id: id,
        tenant_id: event.tenant_id,
        asset: body.asset,
        signature: body.signature,
        severity: body.severity,
        status: "new",
        priority_score: body.priority,
        alert_count: 1,
        tool_sources: [body.tool_source],
        opened_at: body.at || event.at,
      });
    } else if (state.incidents.has(id)) {
      const row = state.incidents.get(id);
      if (event.event_type === "PriorityChanged" && body) row.priority_score = body.to;
      if (event.event_type === "AlertAttached") row.alert_count = (row.alert_count || 1) + 1;
      if (STATUS_AFTER[event.event_type]) row.status = STATUS_AFTER[event.event_type];
      if (row.status === "resolved") state.incidents.delete(id);
    }
    renderIncidents();
    debounce("incident-" + id, 400, () => refreshIncident(id));
  }

  function describe(event) {
    const body = (event.payload && event.payload[event.event_type]) || {};
    const parts = [body.asset, body.signature, body.severity].filter(Boolean);
    return parts.join(" · ");
  }

  function addToTicker(event) {
    const ticker = $("ticker");
    const item = el("li", { class: "tick" },
      el("time", { datetime: event.at, text: new Date(event.at).toLocaleTimeString() }), " ",
      el("strong", { text: event.event_type }), " ",
      el("span", { text: describe(event) }));
    ticker.prepend(item);
    while (ticker.children.length > TICKER_MAX) ticker.lastElementChild.remove();
  }

  // ---- start -----------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", (submit) => {
      submit.preventDefault();
      signIn($("token").value).catch((error) => {
        $("sign-in-error").textContent = "Sign-in failed: " + error.message;
      });
    });
    $("sign-out").addEventListener("click", () => signOut());
    // A token in the fragment (#token=...) signs in directly; the fragment
    // never reaches the server or its logs.
    const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
    if (fromFragment) history.replaceState(null, "", location.pathname);
    const saved = fromFragment || sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      $("token").value = saved;
      signIn(saved).catch((error) => {
        $("sign-in-error").textContent = "Sign-in failed: " + error.message;
      });
    }
  });
})();
