// The alerts view: alerts with filters (status, severity, asset, only those
// stored with normalization warnings), one alert's detail, and the webhook
// deliveries the server refused, with their count: a sender whose
// deliveries are refused loses alerts, so they are listed where people look.
"use strict";

import { $, el, get, time, words, tenantParam, tenantName, SEVERITIES } from "./core.js";

const state = { built: false, timers: {} };

function build(view) {
  view.replaceChildren(
    el("div", { class: "layout two" },
      el("section", { class: "panel", "aria-labelledby": "alerts-title" },
        el("h2", { id: "alerts-title", text: "Alerts" }),
        el("form", { id: "alert-filters", class: "filters", "aria-label": "Filter alerts", onsubmit: (e) => { e.preventDefault(); load(); } },
          el("div", { class: "field" }, el("label", { for: "alert-status", text: "Status" }),
            el("select", { id: "alert-status" },
              el("option", { value: "", text: "Any" }),
              ...["firing", "acknowledged", "resolved"].map((s) => el("option", { value: s, text: s })))),
          el("div", { class: "field" }, el("label", { for: "alert-severity", text: "Severity" }),
            el("select", { id: "alert-severity" }, el("option", { value: "", text: "Any" }),
              ...SEVERITIES.map((s) => el("option", { value: s, text: s })))),
          el("div", { class: "field" }, el("label", { for: "alert-asset", text: "Asset" }),
            el("input", { id: "alert-asset", type: "search", autocomplete: "off" })),
          el("div", { class: "field check" },
            el("input", { id: "alert-warnings", type: "checkbox" }),
            el("label", { for: "alert-warnings", text: "Only with normalization warnings" })),
          el("button", { type: "submit", class: "quiet", text: "Apply" })),
        el("table", { id: "alert-table" },
          el("caption", { class: "visually-hidden", text: "Alerts, newest first" }),
          el("thead", {}, el("tr", {}, ...["Received", "Severity", "Asset", "Signature", "Status", "Source", "Warnings"]
            .map((h) => el("th", { scope: "col", text: h })))),
          el("tbody", { id: "alert-rows" })),
        el("p", { id: "no-alerts", class: "empty", text: "No alerts match." }),
        el("div", { id: "alert-detail", class: "detail", hidden: true })),
      el("section", { class: "panel", "aria-labelledby": "deliveries-title" },
        el("h2", { id: "deliveries-title" }, "Rejected deliveries ", el("span", { id: "rejected-count", class: "count" })),
        el("p", { class: "hint", text: "Webhook deliveries the server refused (unparseable, unauthenticated, unsigned where required, too large or rate limited). Nothing was stored from them." }),
        el("ul", { id: "delivery-list", class: "delivery-list" }),
        el("p", { id: "no-deliveries", class: "empty", text: "No delivery was refused." }))));
  for (const id of ["alert-status", "alert-severity", "alert-warnings"]) $(id).addEventListener("change", () => load());
}

export async function show(view) {
  if (!state.built) {
    build(view);
    state.built = true;
  }
  await Promise.all([load(), loadDeliveries()]);
}

async function load() {
  let query = "/api/v1/alerts?limit=100" + tenantParam();
  const status = $("alert-status").value;
  const severity = $("alert-severity").value;
  const asset = $("alert-asset").value.trim();
  if (status) query += "&status=" + status;
  if (severity) query += "&severity=" + severity;
  if (asset) query += "&asset=" + encodeURIComponent(asset);
  if ($("alert-warnings").checked) query += "&warnings=true";
  const page = await get(query);
  $("no-alerts").hidden = page.items.length > 0;
  $("alert-rows").replaceChildren(...page.items.map((alert) => {
    const warnings = alert.normalization_warnings || [];
    return el("tr", { "data-alert-id": alert.alert_id },
      el("td", {}, time(alert.received_at || alert.occurred_at)),
      el("td", {}, el("span", { class: "badge sev-" + alert.severity, text: alert.severity })),
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => showAlert(alert), "aria-label": "Show alert " + alert.asset + " " + alert.signature }, alert.asset)),
      el("td", { text: alert.signature }),
      el("td", { text: words(alert.status) + (alert.suppressed_by ? " (suppressed)" : "") }),
      el("td", { text: alert.tool_source || alert.source || "" }),
      el("td", { class: warnings.length ? "warn" : "", text: warnings.length ? String(warnings.length) : "" }));
  }));
}

function showAlert(alert) {
  const box = $("alert-detail");
  box.hidden = false;
  const warnings = alert.normalization_warnings || [];
  box.replaceChildren(
    el("h3", { text: alert.asset + " · " + alert.signature, tabindex: "-1" }),
    el("p", { text: alert.message || "" }),
    el("dl", { class: "facts" },
      el("dt", { text: "Tenant" }), el("dd", { text: tenantName(alert.tenant_id) }),
      el("dt", { text: "Fingerprint" }), el("dd", {}, el("code", { text: alert.fingerprint || "–" })),
      el("dt", { text: "Incident" }), el("dd", { text: alert.incident_id ? String(alert.incident_id).slice(0, 8) : "none" }),
      el("dt", { text: "Suppressed by" }), el("dd", { text: alert.suppressed_by || "–" })),
    warnings.length
      ? el("div", {}, el("h4", { text: "Normalization warnings" }),
        el("ul", { class: "warnings" }, ...warnings.map((w) => el("li", { text: typeof w === "string" ? w : [w.field, w.warning || JSON.stringify(w)].filter(Boolean).join(": ") }))))
      : el("p", { class: "subtle", text: "Stored without warnings." }),
    el("details", {}, el("summary", { text: "Labels" }), el("pre", { text: JSON.stringify(alert.labels || {}, null, 2) })));
  box.querySelector("h3").focus();
}

async function loadDeliveries() {
  const page = await get("/api/v1/deliveries?status=rejected&limit=100" + tenantParam());
  $("rejected-count").textContent = String(page.items.length) + (page.next_cursor ? "+" : "");
  $("no-deliveries").hidden = page.items.length > 0;
  $("delivery-list").replaceChildren(...page.items.map((d) => el("li", { class: "delivery" },
    el("p", {}, time(d.at, true), " ", el("strong", { text: d.source }), " · ", tenantName(d.tenant_id)),
    el("p", { class: "reason", text: d.reason }),
    d.excerpt || d.body_excerpt ? el("pre", { class: "excerpt", text: d.excerpt || d.body_excerpt }) : null)));
}

export function onEvent(event, current) {
  if (current !== "alerts" || !state.built) return;
  const later = (key, action) => {
    clearTimeout(state.timers[key]);
    state.timers[key] = setTimeout(() => action().catch(() => {}), 500);
  };
  if (event.aggregate_type === "Alert") later("alerts", load);
  if (event.aggregate_type === "Delivery") later("deliveries", loadDeliveries);
}

/// Forgets the view (called on sign-out: nothing of the previous person's
/// data stays in the page).
export function reset() {
  state.built = false;
}
