// The approvals view: runbook runs waiting for a person, each with the
// runbook content the request pinned (what an approval approves: document,
// commands, parameters, risk, target instances), approve or reject with a
// reason. Who may decide follows the API: a tenant admin up to medium risk,
// only an MSP admin high risk, nobody their own request.
"use strict";

import { $, el, get, call, act, field, time, words, mayApprove, myId, tenantParam, tenantName } from "./core.js";

const state = { built: false, runbooks: new Map(), timer: null };

function build(view) {
  view.replaceChildren(el("section", { class: "panel approvals", "aria-labelledby": "approvals-title" },
    el("h2", { id: "approvals-title", text: "Approvals" }),
    el("form", { class: "filters", "aria-label": "Filter approvals", onsubmit: (e) => e.preventDefault() },
      el("div", { class: "field" }, el("label", { for: "approval-status", text: "Status" }),
        el("select", { id: "approval-status", onchange: () => load() },
          ...["pending", "granted", "rejected", "expired"].map((s) => el("option", { value: s, text: s }))))),
    el("p", { id: "approvals-message", class: "message", role: "status", "aria-live": "polite" }),
    el("p", { id: "approvals-empty", class: "empty" }),
    el("ul", { id: "approval-list", class: "approval-list" })));
}

/// The number of pending requests, on the navigation link.
export async function count() {
  const page = await get("/api/v1/approvals?status=pending&limit=500" + tenantParam()).catch(() => null);
  const badge = $("approvals-badge");
  const n = page ? page.items.length : 0;
  badge.hidden = n === 0;
  badge.textContent = String(n) + (page && page.next_cursor ? "+" : "");
  badge.setAttribute("aria-label", n + " pending");
}

export async function show(view) {
  if (!state.built) {
    build(view);
    state.built = true;
  }
  await load();
}

async function runbookName(id) {
  if (!state.runbooks.has(id)) {
    state.runbooks.set(id, get("/api/v1/runbooks/" + encodeURIComponent(id)).then((r) => r.name).catch(() => null));
  }
  return state.runbooks.get(id);
}

async function load() {
  const status = $("approval-status").value;
  const page = await get("/api/v1/approvals?status=" + status + "&limit=100" + tenantParam());
  const items = page.items || [];
  $("approvals-empty").textContent = items.length ? "" : (status === "pending" ? "Nothing waits for approval." : "None.");
  const names = await Promise.all(items.map((a) => runbookName(a.runbook_id)));
  $("approval-list").replaceChildren(...items.map((approval, index) => renderApproval(approval, names[index])));
}

function renderApproval(approval, name) {
  const id = approval.approval_id || approval.id;
  const risk = approval.risk || "unknown";
  const content = approval.runbook_content;
  // Nobody decides their own request (the server refuses it too).
  const canDecide = approval.status === "pending" && mayApprove(risk) && approval.requested_by !== myId();
  const reason = el("input", { name: "reason", autocomplete: "off" });
  const decide = (verdict, done) => (event) => act($("approvals-message"), event.currentTarget, async () => {
    const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
    await call("/api/v1/approvals/" + encodeURIComponent(id) + "/" + verdict, "POST", body);
    await Promise.all([load(), count()]);
  }, done);
  return el("li", { class: "approval risk-" + risk, "data-approval-id": id },
    el("h3", {},
      el("span", { class: "badge risk-" + risk, text: risk + " risk" }), " ",
      name || "runbook " + String(approval.runbook_id).slice(0, 8),
      el("span", { class: "subtle", text: " for incident " + String(approval.incident_id).slice(0, 8) + " · " + tenantName(approval.tenant_id) })),
    el("p", { class: "subtle" }, "Requested by " + (approval.requester_name || approval.requested_by) + " at ", time(approval.requested_at),
      "; ", approval.status === "pending" ? "expires " : words(approval.status) + " ",
      time(approval.status === "pending" ? approval.expires_at : approval.decided_at),
      approval.decided_by ? " by " + approval.decided_by : "", approval.reason ? " — " + approval.reason : ""),
    content
      ? el("div", { class: "pinned" },
        el("h4", {}, "What you approve ", el("span", { class: "subtle", text: "(version " + approval.runbook_version + ", sha256 " + String(approval.runbook_content_sha256 || "").slice(0, 12) + "…)" })),
        el("dl", { class: "facts" },
          el("dt", { text: "Document" }), el("dd", {}, el("code", { text: content.document || "–" })),
          el("dt", { text: "Instances" }), el("dd", { text: (content.instance_ids || []).join(", ") || "–" }),
          el("dt", { text: "Risk" }), el("dd", { text: content.risk || risk })),
        el("pre", { class: "commands", "aria-label": "Commands", text: (content.commands || []).join("\n") }),
        content.parameters && Object.keys(content.parameters).length
          ? el("pre", { class: "commands", "aria-label": "Parameters", text: JSON.stringify(content.parameters, null, 2) }) : null)
      : el("p", { class: "subtle", text: "This request predates pinned content." }),
    canDecide
      ? el("div", { class: "decide" },
        field("Reason (optional)", reason),
        el("div", { class: "buttons" },
          el("button", { type: "button", class: "approve", onclick: decide("approve", "Approved.") }, "Approve"),
          el("button", { type: "button", class: "reject", onclick: decide("reject", "Rejected.") }, "Reject")))
      : approval.status === "pending"
        ? el("p", { class: "subtle", text: approval.requested_by === myId() ? "You asked for this run; someone else decides." : "Your role may not decide " + risk + "-risk requests." })
        : null);
}

export function onEvent(event, current) {
  if (event.aggregate_type !== "Approval") return;
  clearTimeout(state.timer);
  state.timer = setTimeout(() => {
    count().catch(() => {});
    if (current === "approvals" && state.built) load().catch(() => {});
  }, 300);
}

/// Forgets the view (called on sign-out: nothing of the previous person's
/// data stays in the page).
export function reset() {
  state.built = false;
}
