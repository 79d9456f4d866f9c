// alertledger's built-in dashboard: signs in (password, SSO or a pasted
// token), switches between views by the URL fragment (#/incidents, ...),
// and follows GET /api/v1/stream (Server-Sent Events), resuming after the
// last event id whenever the connection drops. Each view lives in its own
// module; this one owns the frame around them.
"use strict";

import {
  $, el, session, claimsOf, keepTokens, savedTokens, forgetTokens, refresh, api, get,
  offers, mayConfigure, words, duration, tenantParam,
} from "./core.js";
import * as incidents from "./incidents.js";
import * as alerts from "./alerts.js";
import * as approvals from "./approvals.js";
import * as trends from "./trends.js";
import * as settings from "./settings.js";
import * as profile from "./profile.js";

const VIEWS = { incidents, alerts, approvals, trends, settings, profile };
const TICKER_MAX = 60;
// Stored event types the stream may send (the `event:` field); the page
// listens to every type it knows and ignores the others.
const EVENT_TYPES = [
  "AlertReceived", "AlertAcknowledged", "AlertCorrelated", "AlertResolvedBySource",
  "AlertSuppressed", "AlertSuppressionLifted",
  "IncidentOpened", "AlertAttached", "PriorityChanged", "IncidentAcknowledged",
  "IncidentAssigned", "IncidentCommented", "IncidentSilenced", "IncidentEscalated",
  "IncidentResolved", "IncidentReopened", "IncidentAlertResolved", "AllAlertsResolved",
  "ApprovalRequested", "ApprovalGranted", "ApprovalRejected", "ApprovalExpired",
  "ExecutionRequested", "ExecutionDispatched", "InvocationUpdated",
  "ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut",
  "DeliveryRejected",
  "MaintenanceWindowCreated", "MaintenanceWindowChanged", "MaintenanceWindowDeleted",
  "MaintenanceWindowEnded", "NotificationChannelAdded", "NotificationChannelRemoved",
  "ApiKeyIssued", "ApiKeyRevoked", "WebhookSecretAdded", "WebhookSecretRevoked",
  "SigningRequirementChanged", "CorrelationPolicyChanged", "SeverityMapChanged",
  "UserInvited", "UserRoleChanged", "UserTenantsChanged", "UserRenamed", "UserDisabled",
  "UserSessionsRevoked",
  "IncidentFlapping", "IncidentFlappingEnded",
  "NotificationRequested", "NotificationDelivered", "NotificationFailed", "NotificationPolicyMatched",
  "NotificationRuleAdded", "NotificationRuleChanged", "NotificationRuleRemoved", "NotificationChannelUpdated",
  "EscalationStarted", "EscalationLevelReached", "EscalationStopped",
  "EscalationPolicyCreated", "EscalationPolicyChanged", "EscalationPolicyDeleted",
  "OnCallScheduleCreated", "OnCallScheduleChanged", "OnCallScheduleDeleted",
  "OnCallOverrideAdded", "OnCallOverrideRemoved",
  "HeartbeatRegistered", "HeartbeatChanged", "HeartbeatMissed", "HeartbeatRecovered",
];

const feed = { source: null, lastEventId: null, retryDelay: 1000, reconnectTimer: null };
const timers = {};
let current = null;

function debounce(key, wait, action) {
  clearTimeout(timers[key]);
  timers[key] = setTimeout(() => Promise.resolve(action()).catch(() => {}), wait);
}

function setConnection(text, kind) {
  const node = $("connection");
  node.textContent = text;
  node.dataset.kind = kind || "";
}

// ---- sign-in -------------------------------------------------------------------

function signInError(text) {
  $("sign-in-error").textContent = text || "";
}

async function login(event) {
  event.preventDefault();
  const button = $("login-submit");
  button.disabled = true;
  signInError("");
  try {
    const response = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: $("login-email").value.trim(), password: $("login-password").value }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      signInError(response.status === 401 ? "Wrong email or password."
        : (body.error && body.error.message) || ("The server answered " + response.status + "."));
      return;
    }
    $("login-password").value = "";
    keepTokens(body.access_token, body.refresh_token, body.expires_in);
    await start();
  } catch (error) {
    signInError("Sign-in failed: " + error.message);
  } finally {
    button.disabled = false;
  }
}

async function signInWithToken(token) {
  token = token.trim();
  if (!claimsOf(token)) {
    signInError("That does not look like a JWT.");
    return;
  }
  const probe = await fetch("/api/v1/me", { headers: { Authorization: "Bearer " + token } });
  if (!probe.ok) {
    signInError(probe.status === 401 ? "The server refused this token (invalid or expired)."
      : "The server answered " + probe.status + ".");
    return;
  }
  keepTokens(token, null, null);
  await start();
}

/// Loads who the caller is and the tenants they read, then shows the board.
async function start() {
  session.me = await get("/api/v1/me");
  const tenants = await get("/api/v1/tenants").catch(() => ({ items: [] }));
  session.tenants = tenants.items || [];
  signInError("");
  $("sign-in").hidden = true;
  $("board").hidden = false;
  $("nav").hidden = false;
  $("sign-out").hidden = false;
  $("nav-settings").hidden = !mayConfigure();
  const who = $("who");
  who.hidden = false;
  who.textContent = session.me.name + " · " + words(session.me.role);
  who.title = who.textContent;
  renderTenantSwitch();
  // Signing in does not hinge on the KPIs: a failure to load them is reported.
  await Promise.all([loadToday().catch(report), approvals.count()]);
  connect();
  route();
  // Focus leaves the sign-in form (now hidden) for the board.
  $("main").focus();
}

async function signOut(message, callServer) {
  if (callServer && session.token && session.refreshToken) {
    // Revokes the sign-in session on the server (its refresh token dies).
    await api("/api/v1/auth/logout", { method: "POST" }).catch(() => {});
  }
  forgetTokens();
  if (feed.source) feed.source.close();
  clearTimeout(feed.reconnectTimer);
  feed.source = null;
  feed.lastEventId = null;
  for (const section of document.querySelectorAll(".view")) section.hidden = true;
  current = null;
  for (const [name, view] of Object.entries(VIEWS)) {
    view.reset();
    if (name !== "incidents") $("view-" + name).replaceChildren();
  }
  session.tenant = "";
  session.tenants = [];
  $("ticker").replaceChildren();
  $("board").hidden = true;
  $("nav").hidden = true;
  $("tenant-switch").hidden = true;
  $("sign-out").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  signInError(message || "");
  setConnection("Signed out", "off");
  $("login-email").focus();
}

// The tenant switcher: an MSP admin (or anyone holding several tenants)
// scopes every view to one tenant or all of them.
function renderTenantSwitch() {
  const select = $("tenant");
  const several = session.me.all_tenants || session.tenants.length > 1;
  $("tenant-switch").hidden = !several;
  if (!several && session.tenants.length === 1) session.tenant = session.tenants[0].id;
  select.replaceChildren(
    el("option", { value: "", text: "All tenants" }),
    ...session.tenants.map((t) => el("option", { value: t.id, text: t.name })));
  select.value = session.tenant;
}

// ---- views -----------------------------------------------------------------------

function route() {
  if (!session.me) return;
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1];
  const view = VIEWS[name] ? name : "incidents";
  if (view === "settings" && !mayConfigure()) {
    location.hash = "#/incidents";
    return;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const [key] of Object.entries(VIEWS)) $("view-" + key).hidden = key !== view;
  const changed = current !== view;
  current = view;
  VIEWS[view].show($("view-" + view)).then(loaded, report);
  if (changed) {
    const heading = $("view-" + view).querySelector("h2");
    if (heading && document.activeElement && document.activeElement.closest("#nav")) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }
}

/// Says that a view could not be loaded (the connection status stays about
/// the connection); the next successful load clears it.
function report(error) {
  if (error && error.status === 401) return;
  const node = $("board-error");
  node.hidden = false;
  node.textContent = "Could not load everything: " + (error && error.message) + " It is tried again on the next update.";
}

function loaded() {
  $("board-error").hidden = true;
}

// ---- today's KPI cards ------------------------------------------------------------

// Refused webhook deliveries kept for the caller's tenants: a tool whose
// deliveries are refused loses alerts, so the count stays in sight. One
// page (up to 500) is counted; more shows as "500+".
async function rejectedDeliveries() {
  const page = await get("/api/v1/deliveries?status=rejected&limit=500" + tenantParam()).catch(() => null);
  if (!page) return "–";
  return String(page.items.length) + (page.next_cursor ? "+" : "");
}

async function loadToday() {
  const today = new Date().toISOString().slice(0, 10);
  const [kpis, rejected] = await Promise.all([
    get("/api/v1/kpis?from=" + today + "&to=" + today + tenantParam()),
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
    ["Rejected deliveries", rejected, "rejected-deliveries", "#/alerts"],
  ];
  $("kpi-cards").replaceChildren(...cards.map(([label, value, id, href]) =>
    el("li", { class: "card", id },
      el("span", { class: "label" }, href ? el("a", { href, text: label }) : label),
      el("span", { class: "value", text: value }))));
}

// ---- live feed ----------------------------------------------------------------------

function connect() {
  if (!session.token) return;
  if (feed.source) feed.source.close();
  let url = "/api/v1/stream?token=" + encodeURIComponent(session.token);
  // EventSource sends Last-Event-ID by itself when *it* reconnects; a new
  // EventSource (after an error it gave up on, a resync or a new token)
  // resumes here.
  if (feed.lastEventId) url += "&after=" + encodeURIComponent(feed.lastEventId);
  const source = new EventSource(url);
  feed.source = source;
  setConnection("Connecting…", "wait");
  source.onopen = () => {
    feed.retryDelay = 1000;
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
    if (data.last_event_id) feed.lastEventId = data.last_event_id;
    source.close();
    // Fell behind: catch up from the last event seen, then reload the views.
    setConnection("Catching up…", "wait");
    connect();
    loadToday().catch(report);
    if (current) VIEWS[current].show($("view-" + current)).catch(report);
  });
  source.addEventListener("token_expired", async () => {
    source.close();
    // A signed-in session renews its token and carries on where it was.
    if (await refresh()) connect();
    else signOut("Your token has expired; sign in again.");
  });
  source.addEventListener("shutdown", () => {
    source.close();
    setConnection("Server restarting; reconnecting…", "wait");
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  clearTimeout(feed.reconnectTimer);
  feed.reconnectTimer = setTimeout(connect, feed.retryDelay);
  feed.retryDelay = Math.min(feed.retryDelay * 2, 30000);
}

function onEvent(message) {
  const event = JSON.parse(message.data);
  feed.lastEventId = message.lastEventId || String(event.position);
  if (session.tenant && event.tenant_id && event.tenant_id !== session.tenant) return;
  addToTicker(event);
  for (const view of Object.values(VIEWS)) {
    if (view.onEvent) view.onEvent(event, current);
  }
  if (["Alert", "Incident", "Approval", "Execution", "Delivery"].includes(event.aggregate_type)) {
    debounce("today", 1200, () => loadToday().catch(report));
  }
}

function describe(event) {
  const body = (event.payload && event.payload[event.event_type]) || {};
  return [body.asset, body.signature, body.severity].filter(Boolean).join(" · ");
}

function addToTicker(event) {
  const ticker = $("ticker");
  ticker.prepend(el("li", { class: "tick" },
    el("time", { datetime: event.at, text: new Date(event.at).toLocaleTimeString() }), " ",
    el("strong", { text: event.event_type }), " ",
    el("span", { text: describe(event) })));
  while (ticker.children.length > TICKER_MAX) ticker.lastElementChild.remove();
}

// ---- start ----------------------------------------------------------------------------

/// The SSO callback lands here with `#access_token=..&refresh_token=..&expires_in=..`;
/// an older link may carry `#token=...`. The fragment never reaches the
/// server or its logs, and is wiped from the address bar at once.
function tokensFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const access = params.get("access_token") || params.get("token");
  if (!access) return null;
  history.replaceState(null, "", location.pathname + "#/incidents");
  return { access, refresh: params.get("refresh_token"), expiresIn: params.get("expires_in") };
}

/// What a failed single sign-on means for the person at the login form
/// (the callback's `#sso_error=<code>`); other codes get the general line.
const SSO_ERRORS = {
  sso_denied: "The identity provider did not sign you in (cancelled or refused there).",
  sso_login_unknown: "That single sign-on expired, was already used, or began in another browser. Try again.",
  sso_refused: "The identity provider's answer could not be verified. Try again; if it persists, tell your administrator.",
  sso_no_email: "Your identity provider sent no email address for you; your administrator must add one.",
  sso_email_unverified: "A user with your email exists, but the identity provider does not vouch for the address; an administrator must link the account.",
  sso_no_role: "Your identity provider grants you no alertledger role; ask your administrator.",
  sso_no_tenant: "Your identity provider grants you no tenant; ask your administrator.",
  user_disabled: "Your user is disabled; an administrator can enable it.",
  sso_not_configured: "Single sign-on is not configured on this server.",
  missing_field: "The identity provider's answer was incomplete. Try again.",
  unavailable: "Signing in through the identity provider is unavailable just now. Try again shortly.",
};

/// A failed SSO lands here with `#sso_error=<code>`: say why on the login
/// form and wipe the fragment.
function ssoErrorFromFragment() {
  const code = new URLSearchParams(location.hash.slice(1)).get("sso_error");
  if (!code) return false;
  history.replaceState(null, "", location.pathname);
  signInError("Single sign-on failed: " + (SSO_ERRORS[code] || "the sign-in did not complete (" + code.replace(/[^a-z_]/g, "") + ")."));
  return true;
}

async function offerSso() {
  if (!(await offers("/api/v1/auth/oidc"))) return;
  const response = await fetch("/api/v1/auth/oidc").catch(() => null);
  if (!response || !response.ok) return;
  const config = await response.json().catch(() => ({}));
  if (config.enabled) {
    const link = $("sso-link");
    if (config.login_url) link.href = config.login_url;
    link.hidden = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  session.onSignedOut = (message) => signOut(message, false);
  session.onTokenChanged = () => {
    // The stream was opened with the old token: reopen it after the last event seen.
    if (feed.source && session.me) connect();
  };
  $("login-form").addEventListener("submit", login);
  $("sign-in-form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    signInWithToken($("token").value).catch((error) => signInError("Sign-in failed: " + error.message));
  });
  $("sign-out").addEventListener("click", () => signOut("", true));
  $("tenant").addEventListener("change", () => {
    session.tenant = $("tenant").value;
    loadToday().catch(report);
    approvals.count().catch(report);
    if (current) VIEWS[current].show($("view-" + current), true).catch(report);
  });
  window.addEventListener("hashchange", route);
  offerSso();

  if (ssoErrorFromFragment()) return;
  const given = tokensFromFragment() || savedTokens();
  if (!given) return;
  if (given.refresh) {
    keepTokens(given.access, given.refresh, given.expiresIn);
    start().catch((error) => signInError("Sign-in failed: " + error.message));
  } else {
    $("token").value = given.access;
    signInWithToken(given.access).catch((error) => signInError("Sign-in failed: " + error.message));
  }
});
