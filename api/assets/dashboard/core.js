// What every view of the dashboard shares: the signed-in session (tokens,
// refresh before expiry, sign-out), calls to the REST API, the caller's role
// and tenants, small DOM helpers, and the list of routes the server offers
// (read from its OpenAPI document, so features built elsewhere appear once
// their routes exist).
"use strict";

export const $ = (id) => document.getElementById(id);

/// Builds an element: attributes (`class`, `text`, `on<event>` listeners,
/// booleans set when true) and children (nodes or text).
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/// A `<time>`: the time of day (hours and minutes when `short`), or the
/// date and time; the exact moment is in its title.
export function time(at, withDate, short) {
  if (!at) return "–";
  const date = new Date(at);
  const text = withDate ? date.toLocaleString()
    : short ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : date.toLocaleTimeString();
  return el("time", { datetime: at, title: date.toLocaleString(), text });
}

export function duration(seconds) {
  if (seconds == null) return "–";
  if (seconds < 90) return Math.round(seconds) + " s";
  if (seconds < 5400) return Math.round(seconds / 60) + " min";
  return (seconds / 3600).toFixed(1) + " h";
}

export const words = (value) => String(value == null ? "" : value).replace(/_/g, " ");

// ---- session -----------------------------------------------------------------

const ACCESS_KEY = "alertledger.token";
const REFRESH_KEY = "alertledger.refresh";
const EXPIRES_KEY = "alertledger.expires_at";
/// Refresh this long before the access token runs out.
const REFRESH_MARGIN_MS = 60_000;

export const session = {
  token: null,
  refreshToken: null,
  expiresAt: null,
  /// `GET /api/v1/me`.
  me: null,
  /// The tenants the caller can read: `[{id, name, slug}]`.
  tenants: [],
  /// The tenant the views are scoped to (`""`: every tenant the caller reads).
  tenant: "",
  refreshTimer: null,
  onSignedOut: null,
  onTokenChanged: null,
};

export function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
  } catch (_) {
    return null;
  }
}

/// Keeps a token pair (from login, refresh or the SSO fragment) for this tab
/// only, and schedules its refresh.
export function keepTokens(access, refresh, expiresIn) {
  session.token = access;
  session.refreshToken = refresh || null;
  const claims = claimsOf(access) || {};
  session.expiresAt = expiresIn ? Date.now() + Number(expiresIn) * 1000
    : claims.exp ? claims.exp * 1000 : null;
  sessionStorage.setItem(ACCESS_KEY, access);
  if (refresh) sessionStorage.setItem(REFRESH_KEY, refresh);
  else sessionStorage.removeItem(REFRESH_KEY);
  if (session.expiresAt) sessionStorage.setItem(EXPIRES_KEY, String(session.expiresAt));
  scheduleRefresh();
  if (session.onTokenChanged) session.onTokenChanged();
}

export function savedTokens() {
  const access = sessionStorage.getItem(ACCESS_KEY);
  if (!access) return null;
  const expiresAt = Number(sessionStorage.getItem(EXPIRES_KEY)) || null;
  return {
    access,
    refresh: sessionStorage.getItem(REFRESH_KEY),
    expiresIn: expiresAt ? Math.max(0, (expiresAt - Date.now()) / 1000) : null,
  };
}

export function forgetTokens() {
  clearTimeout(session.refreshTimer);
  sessionStorage.removeItem(ACCESS_KEY);
  sessionStorage.removeItem(REFRESH_KEY);
  sessionStorage.removeItem(EXPIRES_KEY);
  session.token = null;
  session.refreshToken = null;
  session.expiresAt = null;
  session.me = null;
}

function scheduleRefresh() {
  clearTimeout(session.refreshTimer);
  if (!session.refreshToken || !session.expiresAt) return;
  const wait = Math.max(1000, session.expiresAt - Date.now() - REFRESH_MARGIN_MS);
  session.refreshTimer = setTimeout(() => { refresh(); }, wait);
}

let refreshing = null;

/// Trades the refresh token for a new pair (the old one is used up); one
/// refresh at a time, since a reused refresh token revokes the session.
export function refresh() {
  if (!session.refreshToken) return Promise.resolve(false);
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: session.refreshToken }),
      });
      if (!response.ok) return false;
      const pair = await response.json();
      keepTokens(pair.access_token, pair.refresh_token, pair.expires_in);
      return true;
    } catch (_) {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export class ApiError extends Error {
  constructor(status, body) {
    const message = (body && body.error && body.error.message) || ("The server answered " + status + ".");
    super(message);
    this.status = status;
    this.body = body;
  }
}

/// Calls the API with the session's token; a 401 is retried once after a
/// refresh, then signs out.
export async function api(path, options) {
  // Signed out meanwhile (a late timer): nothing to ask.
  if (!session.token) throw new ApiError(401, null);
  const call = () => fetch(path, {
    ...(options || {}),
    headers: {
      Authorization: "Bearer " + session.token,
      ...(options && options.body ? { "Content-Type": "application/json" } : {}),
      ...((options && options.headers) || {}),
    },
  });
  let response = await call();
  if (response.status === 401 && session.refreshToken && await refresh()) response = await call();
  if (response.status === 401) {
    if (session.onSignedOut) session.onSignedOut("Your session has ended; sign in again.");
    throw new ApiError(401, null);
  }
  return response;
}

/// The JSON answer of a call, or an ApiError carrying the server's message.
export async function call(path, method, body) {
  const response = await api(path, method ? { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) } : undefined);
  const text = await response.text();
  const parsed = text ? (() => { try { return JSON.parse(text); } catch (_) { return text; } })() : null;
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const get = (path) => call(path);

// ---- roles -------------------------------------------------------------------

const RANK = { viewer: 0, technician: 1, tenant_admin: 2, msp_admin: 3 };
const APPROVER_RISKS = { msp_admin: ["low", "medium", "high"], tenant_admin: ["low", "medium"], technician: [], viewer: [] };

export const role = () => (session.me && session.me.role) || "viewer";
/// Mirrors the API's policy so the page offers only what the server would
/// allow; the server decides regardless.
export const mayOperate = () => RANK[role()] >= RANK.technician;
export const mayConfigure = () => RANK[role()] >= RANK.tenant_admin;
export const mayApprove = (risk) => (APPROVER_RISKS[role()] || []).includes(risk);
export const myId = () => session.me && session.me.id;

/// `?tenant=` for list calls when one tenant is chosen.
export function tenantParam(prefix) {
  return session.tenant ? (prefix || "&") + "tenant=" + encodeURIComponent(session.tenant) : "";
}

export function tenantName(id) {
  const tenant = session.tenants.find((t) => t.id === id);
  return tenant ? tenant.name : String(id || "").slice(0, 8);
}

// ---- routes the server offers ------------------------------------------------

let paths = null;

/// Whether the server has `method path` (an OpenAPI path template such as
/// `/api/v1/heartbeats`). Reading the public OpenAPI document avoids probing
/// with requests that would answer 404.
export async function offers(path, method) {
  if (!paths) {
    paths = fetch("/api/v1/openapi.json").then((r) => (r.ok ? r.json() : { paths: {} }))
      .then((doc) => doc.paths || {}).catch(() => ({}));
  }
  const all = await paths;
  return Boolean(all[path] && all[path][method || "get"]);
}

// ---- messages ----------------------------------------------------------------

/// Shows the outcome of an action in a live region near where it was taken.
export function say(node, text, kind) {
  node.textContent = text || "";
  node.dataset.kind = kind || "";
}

/// The field a 422 names (`details.field`, e.g. `schedule.cron` or
/// `levels[1].delay_minutes`), if the error has one.
export function fieldOf(error) {
  const details = error && error.body && error.body.error && error.body.error.details;
  return details && typeof details.field === "string" ? details.field : null;
}

/// The control of `form` that edits `field`: the one whose `data-field` is
/// the field or, failing that, its nearest enclosing part (`levels[1]` for
/// `levels[1].channels[0]`, then `levels`).
function controlFor(form, field) {
  const tried = [field];
  for (let part = field; /[.[]/.test(part);) {
    part = part.replace(/(\.[^.[\]]*|\[\d+\])$/, "");
    tried.push(part);
  }
  for (const name of tried) {
    const control = [...form.querySelectorAll("[data-field]")].find((node) => node.dataset.field === name);
    if (control) return control;
  }
  return null;
}

/// Forgets a form's previous refusal (the marks `act` set on its controls).
export function clearInvalid(form) {
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

/// Runs `action` for a form or button, reporting errors in `status`; the
/// button stays disabled while the call is on its way. With `form`, a 422
/// that names a field marks that field's control invalid, points it at the
/// message, focuses it, and the message starts with the field's name.
export async function act(status, button, action, done, form) {
  if (button) button.disabled = true;
  if (form) clearInvalid(form);
  try {
    const result = await action();
    say(status, typeof done === "function" ? done(result) : (done || "Done."), "ok");
    return result;
  } catch (error) {
    const field = fieldOf(error);
    say(status, field ? field + ": " + error.message : error.message, "error");
    const control = form && field ? controlFor(form, field) : null;
    if (control) {
      control.setAttribute("aria-invalid", "true");
      if (status.id) control.setAttribute("aria-describedby", status.id);
      control.focus();
    }
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export function field(label, control, hint) {
  const id = control.id || ("f-" + Math.random().toString(36).slice(2, 9));
  control.id = id;
  return el("div", { class: "field" },
    el("label", { for: id, text: label }), control,
    hint ? el("p", { class: "hint", text: hint }) : null);
}

export function select(name, options, value) {
  return el("select", { name },
    ...options.map(([v, label]) => el("option", { value: v, selected: v === value, text: label })));
}

export const SEVERITIES = ["critical", "high", "medium", "low"];

/// A settings section: a panel with its heading and a live message line
/// (`<id>-message`) where its forms report success or the API's refusal.
export function section(id, title, ...body) {
  return el("section", { id, class: "panel setting", "aria-labelledby": id + "-title" },
    el("h3", { id: id + "-title", text: title }),
    ...body,
    el("p", { id: id + "-message", class: "message", role: "status", "aria-live": "polite" }));
}

/// A group of checkboxes with a legend (`name` on each box, `data-field` on
/// the fieldset so a refusal can point at it).
export function checkboxes(legend, name, options, checked, dataField) {
  const picked = new Set(checked || []);
  return el("fieldset", { class: "checks", "data-field": dataField || name, tabindex: "-1" },
    el("legend", { text: legend }),
    ...(options.length ? options.map(([value, label]) => {
      const id = "c-" + Math.random().toString(36).slice(2, 9);
      return el("span", { class: "check" },
        el("input", { type: "checkbox", id, name, value, checked: picked.has(value) }),
        el("label", { for: id, text: label }));
    }) : [el("span", { class: "hint", text: "None yet." })]));
}

/// The values of the checked boxes called `name` within `root`.
export function checked(root, name) {
  return [...root.querySelectorAll("input[type=checkbox]")].filter((box) => box.name === name && box.checked).map((box) => box.value);
}

/// The lines of a textarea, trimmed, without the empty ones.
export const lines = (text) => String(text || "").split("\n").map((s) => s.trim()).filter(Boolean);

/// A `datetime-local` value (the browser's time zone) as RFC 3339 UTC, and back.
export const isoOf = (local) => (local ? new Date(local).toISOString() : null);
export function localOf(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

/// IANA time zone names the browser knows (for a datalist), its own first.
export function timeZones() {
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const all = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return [own, ...all.filter((zone) => zone !== own)];
}
