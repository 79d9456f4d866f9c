// The settings view for tenant admins (and MSP admins): one tenant's API
// keys, webhook secrets and signing, correlation policy, severity map,
// notification channels and users; notification rules, escalation policies
// and on-call schedules (paging.js), maintenance windows (windows.js) and
// heartbeats (heartbeats.js) are sections of their own modules. Secrets (new
// API keys, webhook secrets, channel signing secrets) are shown once, as the
// API answers them, and never kept.
"use strict";

import {
  $, el, session, get, call, act, field, select, section, SEVERITIES,
} from "./core.js";
import * as paging from "./paging.js";
import * as windows from "./windows.js";
import * as heartbeats from "./heartbeats.js";

const state = { built: false, tenant: null, timer: null };

const SECTIONS = [
  ["set-keys", "API keys"], ["set-secrets", "Webhook signing"], ["set-policy", "Correlation policy"],
  ["set-severity", "Severity map"], ["set-channels", "Notification channels"],
  ["set-rules", "Notification rules"], ["set-escalations", "Escalation policies"], ["set-schedules", "On-call schedules"],
  ["set-windows", "Maintenance windows"], ["set-heartbeats", "Heartbeats"], ["set-users", "Users"],
];

const message = (id) => $(id + "-message");

function build(view) {
  const tenantSelect = el("select", { id: "settings-tenant", onchange: () => { state.tenant = tenantSelect.value; resetForms(); load(); } });
  view.replaceChildren(el("div", { class: "settings" },
    el("nav", { class: "panel settings-nav", "aria-label": "Settings sections" },
      el("h2", { id: "settings-title", text: "Settings" }),
      field("Tenant", tenantSelect),
      el("ul", {}, ...SECTIONS.map(([id, title]) => el("li", { id: "link-" + id },
        el("a", { href: "#/settings", "data-target": id, onclick: (e) => { e.preventDefault(); const s = $(id); s.scrollIntoView(); s.querySelector("h3").setAttribute("tabindex", "-1"); s.querySelector("h3").focus(); } }, title))))),
    el("div", { class: "settings-body" },
      section("set-keys", "API keys",
        el("p", { class: "hint", text: "Monitoring tools send webhooks with a tenant API key. A new key is shown once." }),
        el("ul", { id: "key-list", class: "plain-list" }),
        el("form", { id: "key-form", class: "inline-form", onsubmit: issueKey },
          field("Label", el("input", { name: "label", id: "key-label" })), el("button", { type: "submit", text: "Issue key" })),
        el("div", { id: "key-once", class: "once", hidden: true })),
      section("set-secrets", "Webhook signing",
        el("div", { class: "field check" },
          el("input", { id: "signing-required", type: "checkbox", onchange: setSigning }),
          el("label", { for: "signing-required", text: "Require signed deliveries" })),
        el("ul", { id: "secret-list", class: "plain-list" }),
        el("button", { type: "button", id: "secret-add", onclick: addSecret, text: "Add a signing secret" }),
        el("div", { id: "secret-once", class: "once", hidden: true })),
      section("set-policy", "Correlation policy",
        el("form", { id: "policy-form", class: "grid-form", onsubmit: savePolicy },
          field("Time window (minutes)", el("input", { name: "time_window_minutes", type: "number", min: 1, required: true })),
          field("Aggregation key", el("input", { name: "aggregation_key", required: true }), "Parts joined by |: asset, signature, source, severity, label:<name>"),
          field("Minimum alerts", el("input", { name: "min_alerts", type: "number", min: 1, required: true })),
          el("div", { class: "field check" }, el("input", { id: "policy-auto", name: "auto_correlate", type: "checkbox" }), el("label", { for: "policy-auto", text: "Correlate automatically" })),
          el("div", { class: "field check" }, el("input", { id: "policy-resolve", name: "auto_resolve", type: "checkbox" }), el("label", { for: "policy-resolve", text: "Resolve when all alerts resolve" })),
          el("button", { type: "submit", text: "Save policy" }))),
      section("set-severity", "Severity map",
        el("p", { class: "hint", text: "The tenant's own severity words, applied before the built-in ones (any case)." }),
        el("form", { id: "severity-form", onsubmit: saveSeverity },
          el("table", { class: "compact" },
            el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Word" }), el("th", { scope: "col", text: "Severity" }), el("th", { scope: "col" }, el("span", { class: "visually-hidden", text: "Remove" })))),
            el("tbody", { id: "severity-rows" })),
          el("p", { id: "severity-empty", class: "empty", text: "No words of its own: only the built-in words apply." }),
          el("div", { class: "buttons" },
            el("button", { type: "button", class: "quiet", onclick: () => addSeverityRow("", "medium"), text: "Add a word" }),
            el("button", { type: "submit", text: "Save severity map" })))),
      section("set-channels", "Notification channels",
        el("ul", { id: "channel-list", class: "plain-list" }),
        channelForm(),
        el("div", { id: "channel-once", class: "once", hidden: true })),
      ...paging.sections(),
      ...windows.sections(),
      ...heartbeats.sections(),
      section("set-users", "Users",
        el("table", { class: "compact" },
          el("thead", {}, el("tr", {}, ...["Name", "Email", "Role", ""].map((h) => el("th", { scope: "col", text: h })))),
          el("tbody", { id: "user-rows" })),
        el("form", { id: "user-form", class: "grid-form", onsubmit: createUser },
          field("Email", el("input", { name: "email", type: "email", required: true })),
          field("Name", el("input", { name: "name", required: true })),
          field("Role", select("role", [["viewer", "viewer"], ["technician", "technician"], ["tenant_admin", "tenant admin"]], "technician")),
          field("Password (optional)", el("input", { name: "password", type: "password", autocomplete: "new-password", minlength: 12 }), "Without one, an invitation token is shown once."),
          el("button", { type: "submit", text: "Add user" })),
        el("div", { id: "user-once", class: "once", hidden: true })))));
  resetForms();
}

/// Empties the forms of the paging and window sections (another tenant's
/// choices would not apply).
function resetForms() {
  paging.resetForms();
  windows.resetForms();
}

function channelForm() {
  const type = select("type", [["webhook", "Webhook"], ["slack", "Slack"], ["teams", "Microsoft Teams"], ["email", "Email"], ["pagerduty", "PagerDuty"]], "webhook");
  type.id = "channel-type";
  const form = el("form", { id: "channel-form", class: "grid-form", onsubmit: createChannel },
    field("Type", type),
    field("Name", el("input", { name: "name", id: "channel-name", required: true })),
    el("div", { class: "for-url" }, field("URL", el("input", { name: "url", id: "channel-url", type: "url" }))),
    el("div", { class: "for-pagerduty", hidden: true }, field("Routing key", el("input", { name: "routing_key", id: "channel-routing-key" }))),
    el("div", { class: "for-email grid-form", hidden: true },
      field("SMTP host", el("input", { name: "smtp_host" })),
      field("SMTP port", el("input", { name: "smtp_port", type: "number", value: "587" })),
      field("TLS", select("tls", [["starttls", "STARTTLS"], ["implicit", "Implicit TLS"], ["none", "None"]], "starttls")),
      field("Username", el("input", { name: "username", autocomplete: "off" })),
      field("Password", el("input", { name: "password", type: "password", autocomplete: "new-password" })),
      field("From", el("input", { name: "from", type: "email" })),
      field("To (comma separated)", el("input", { name: "to" }))),
    el("button", { type: "submit", text: "Add channel" }));
  const sync = () => {
    form.querySelector(".for-url").hidden = !["webhook", "slack", "teams"].includes(type.value);
    form.querySelector(".for-pagerduty").hidden = type.value !== "pagerduty";
    form.querySelector(".for-email").hidden = type.value !== "email";
  };
  type.addEventListener("change", sync);
  return form;
}

export async function show(view, tenantChanged) {
  if (!state.built) {
    build(view);
    state.built = true;
  }
  const select = $("settings-tenant");
  const readable = session.tenants.some((t) => t.id === state.tenant);
  if (!state.tenant || tenantChanged || !readable) state.tenant = session.tenant || (session.tenants[0] && session.tenants[0].id);
  select.replaceChildren(...session.tenants.map((t) => el("option", { value: t.id, text: t.name })));
  select.value = state.tenant || "";
  await load();
}

const base = () => "/api/v1/tenants/" + encodeURIComponent(state.tenant);

/// Loads the tenant's settings; a live reload (`live`) refreshes the lists
/// but leaves the forms alone, so nobody loses what they were typing.
async function load(live) {
  if (!state.tenant) return;
  await Promise.all([loadTenant(live), live ? null : loadSeverity(), loadChannels(), windows.load(state.tenant),
    heartbeats.load(state.tenant), loadUsers()]);
}

async function loadTenant(live) {
  const tenant = await get(base());
  $("key-list").replaceChildren(...(tenant.api_keys || []).map((id) => el("li", {},
    el("code", { text: id }), " ",
    el("button", { type: "button", class: "reject small", "aria-label": "Revoke key " + id, onclick: (e) => act(message("set-keys"), e.currentTarget, async () => {
      await call(base() + "/api-keys/" + encodeURIComponent(id), "DELETE");
      await loadTenant();
    }, "Key revoked.") }, "Revoke"))));
  if (!tenant.api_keys || !tenant.api_keys.length) $("key-list").replaceChildren(el("li", { class: "empty", text: "No active key." }));
  $("signing-required").checked = Boolean(tenant.signing_required);
  const secrets = tenant.webhook_secrets || [];
  $("secret-list").replaceChildren(...(secrets.length ? secrets.map((s) => {
    const id = typeof s === "string" ? s : s.secret_id || s.id;
    return el("li", {}, el("code", { text: id }), " ",
      el("button", { type: "button", class: "reject small", "aria-label": "Revoke secret " + id, onclick: (e) => act(message("set-secrets"), e.currentTarget, async () => {
        await call(base() + "/webhook-secrets/" + encodeURIComponent(id), "DELETE");
        await loadTenant();
      }, "Secret revoked.") }, "Revoke"));
  }) : [el("li", { class: "empty", text: "No signing secret." })]));
  if (live) return;
  const policy = tenant.correlation_policy || {};
  const form = $("policy-form");
  form.elements.time_window_minutes.value = policy.time_window_minutes ?? 15;
  form.elements.aggregation_key.value = policy.aggregation_key ?? "asset|signature";
  form.elements.min_alerts.value = policy.min_alerts ?? 1;
  form.elements.auto_correlate.checked = policy.auto_correlate ?? true;
  form.elements.auto_resolve.checked = policy.auto_resolve ?? false;
}

function showOnce(id, label, secret) {
  const box = $(id);
  box.hidden = false;
  box.replaceChildren(el("p", {}, el("strong", { text: label }), " Copy it now: it is not shown again."),
    el("code", { class: "secret", text: secret }));
}

function issueKey(event) {
  event.preventDefault();
  const label = $("key-label").value.trim();
  act(message("set-keys"), event.submitter, async () => {
    const answer = await call(base() + "/api-keys", "POST", label ? { label } : {});
    showOnce("key-once", "New API key " + answer.key_id + ".", answer.api_key);
    event.target.reset();
    await loadTenant();
  }, "Key issued.");
}

function addSecret(event) {
  act(message("set-secrets"), event.currentTarget, async () => {
    const answer = await call(base() + "/webhook-secrets", "POST", {});
    showOnce("secret-once", "New signing secret " + answer.secret_id + ".", answer.secret);
    await loadTenant();
  }, "Secret added.");
}

function setSigning(event) {
  const required = event.currentTarget.checked;
  act(message("set-secrets"), null, () => call(base() + "/webhook-signing", "PUT", { required }),
    required ? "Signed deliveries are now required." : "Unsigned deliveries are accepted.")
    .then((ok) => { if (ok === undefined) loadTenant(); });
}

function savePolicy(event) {
  event.preventDefault();
  const f = event.target.elements;
  act(message("set-policy"), event.submitter, () => call(base() + "/correlation-policy", "PUT", {
    time_window_minutes: Number(f.time_window_minutes.value),
    aggregation_key: f.aggregation_key.value.trim(),
    auto_correlate: f.auto_correlate.checked,
    min_alerts: Number(f.min_alerts.value),
    auto_resolve: f.auto_resolve.checked,
  }), "Policy saved.");
}

function addSeverityRow(word, severity) {
  const input = el("input", { name: "word", value: word, "aria-label": "Word", required: true });
  const choice = select("severity", SEVERITIES.map((s) => [s, s]), severity);
  choice.setAttribute("aria-label", "Severity for this word");
  const row = el("tr", {}, el("td", {}, input), el("td", {}, choice),
    el("td", {}, el("button", { type: "button", class: "quiet small", "aria-label": "Remove this word", onclick: () => row.remove(), text: "Remove" })));
  $("severity-rows").append(row);
  $("severity-empty").hidden = true;
}

async function loadSeverity() {
  const answer = await get(base() + "/severity-map");
  $("severity-rows").replaceChildren();
  for (const [word, severity] of Object.entries(answer.severity_map || {})) addSeverityRow(word, severity);
  $("severity-empty").hidden = $("severity-rows").children.length > 0;
}

function saveSeverity(event) {
  event.preventDefault();
  const map = {};
  for (const row of $("severity-rows").children) {
    const word = row.querySelector("input").value.trim();
    if (word) map[word] = row.querySelector("select").value;
  }
  act(message("set-severity"), event.submitter, async () => {
    await call(base() + "/severity-map", "PUT", map);
    await loadSeverity();
  }, "Severity map saved.");
}

/// The channels, then what names them (rules, policies, schedules).
async function loadChannels() {
  const page = await get(base() + "/notification-channels");
  const items = page.items || [];
  await paging.load(state.tenant, items);
  $("channel-list").replaceChildren(...(items.length ? items.map((c) => el("li", { "data-channel-id": c.id },
    el("strong", { text: c.name }), " ", el("span", { class: "subtle", text: c.type + (c.config && c.config.url_host ? " · " + c.config.url_host : "") }), " ",
    el("button", { type: "button", class: "quiet small", "aria-label": "Send a test to " + c.name, onclick: (e) => act(message("set-channels"), e.currentTarget,
      () => call(base() + "/notification-channels/" + encodeURIComponent(c.id) + "/test", "POST", {}),
      (r) => (r.delivered ? "Test delivered to " + c.name + "." : "Test to " + c.name + " failed: " + (r.error || r.code))) }, "Test"), " ",
    el("button", { type: "button", class: "reject small", "aria-label": "Delete channel " + c.name, onclick: (e) => act(message("set-channels"), e.currentTarget, async () => {
      await call(base() + "/notification-channels/" + encodeURIComponent(c.id), "DELETE");
      await loadChannels();
    }, "Channel deleted.") }, "Delete")))
    : [el("li", { class: "empty", text: "No channel yet." })]));
}

function createChannel(event) {
  event.preventDefault();
  const f = event.target.elements;
  const type = f.type.value;
  let config;
  if (type === "email") {
    config = {
      smtp_host: f.smtp_host.value.trim(), smtp_port: Number(f.smtp_port.value), tls: f.tls.value,
      from: f.from.value.trim(), to: f.to.value.split(",").map((s) => s.trim()).filter(Boolean),
    };
    if (f.username.value.trim()) config.username = f.username.value.trim();
    if (f.password.value) config.password = f.password.value;
  } else if (type === "pagerduty") {
    config = { routing_key: f.routing_key.value.trim() };
  } else {
    config = { url: f.url.value.trim() };
  }
  act(message("set-channels"), event.submitter, async () => {
    const channel = await call(base() + "/notification-channels", "POST", { type, name: f.name.value.trim(), config });
    if (channel.signing_secret) showOnce("channel-once", "Signing secret of " + channel.name + ".", channel.signing_secret);
    event.target.reset();
    // reset() fires no change event: show the fields of the type it reset to.
    f.type.dispatchEvent(new Event("change"));
    await loadChannels();
  }, "Channel added.");
}

async function loadUsers() {
  const page = await get("/api/v1/users");
  const users = (page.items || []).filter((u) => session.me.all_tenants ? (u.role === "msp_admin" || u.tenants.includes(state.tenant)) : true);
  $("user-rows").replaceChildren(...users.map((u) => {
    const role = select("role", [["viewer", "viewer"], ["technician", "technician"], ["tenant_admin", "tenant admin"], ...(session.me.role === "msp_admin" ? [["msp_admin", "MSP admin"]] : [])], u.role);
    role.setAttribute("aria-label", "Role of " + u.name);
    role.disabled = u.disabled || u.id === session.me.id;
    role.addEventListener("change", () => act(message("set-users"), role, async () => {
      await call("/api/v1/users/" + encodeURIComponent(u.id), "PATCH", { role: role.value });
      await loadUsers();
    }, "Role changed."));
    return el("tr", { class: u.disabled ? "disabled" : "" },
      el("td", { text: u.name }), el("td", { text: u.email }), el("td", {}, role),
      el("td", {}, u.disabled ? el("span", { class: "subtle", text: "disabled" })
        : u.id === session.me.id ? el("span", { class: "subtle", text: "you" })
          : el("button", { type: "button", class: "reject small", "aria-label": "Disable " + u.name, onclick: (e) => act(message("set-users"), e.currentTarget, async () => {
            await call("/api/v1/users/" + encodeURIComponent(u.id), "DELETE");
            await loadUsers();
          }, "User disabled.") }, "Disable")));
  }));
}

function createUser(event) {
  event.preventDefault();
  const f = event.target.elements;
  const body = { email: f.email.value.trim(), name: f.name.value.trim(), role: f.role.value, tenants: [state.tenant] };
  if (f.password.value) body.password = f.password.value;
  act(message("set-users"), event.submitter, async () => {
    const user = await call("/api/v1/users", "POST", body);
    if (user.invite_token) showOnce("user-once", "Invitation token for " + user.email + " (POST /api/v1/auth/accept-invite).", user.invite_token);
    event.target.reset();
    await loadUsers();
  }, "User added.");
}

export function onEvent(event, current) {
  if (current !== "settings" || !state.built || !state.tenant) return;
  if (event.tenant_id && event.tenant_id !== state.tenant) return;
  if (!["Tenant", "NotificationSetup", "EscalationSetup", "MaintenanceWindow", "Heartbeat", "User"].includes(event.aggregate_type)) return;
  clearTimeout(state.timer);
  state.timer = setTimeout(() => load(true).catch(() => {}), 500);
}

/// Forgets the view (called on sign-out: nothing of the previous person's
/// data stays in the page).
export function reset() {
  state.built = false;
  state.tenant = null;
}
