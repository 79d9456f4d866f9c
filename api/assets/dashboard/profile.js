// The profile view: who I am (GET /api/v1/me), my role and tenants, changing
// my password, and my active sign-in sessions with a way to sign each out
// (the current one signs this tab out).
"use strict";

import { $, el, session, get, call, act, field, time, words, tenantName } from "./core.js";

const state = { built: false };

function build(view) {
  view.replaceChildren(el("div", { class: "layout two" },
    el("section", { class: "panel", "aria-labelledby": "profile-title" },
      el("h2", { id: "profile-title", text: "Profile" }),
      el("dl", { id: "profile-facts", class: "facts" }),
      el("h3", { text: "Change password" }),
      el("form", { id: "password-form", class: "grid-form", onsubmit: changePassword },
        field("Current password", el("input", { name: "current", type: "password", autocomplete: "current-password", required: true })),
        field("New password", el("input", { name: "new", type: "password", autocomplete: "new-password", minlength: 12, required: true }), "At least 12 characters."),
        el("button", { type: "submit", text: "Change password" })),
      el("p", { id: "password-message", class: "message", role: "status", "aria-live": "polite" })),
    el("section", { class: "panel", "aria-labelledby": "sessions-title" },
      el("h2", { id: "sessions-title", text: "My sessions" }),
      el("table", { class: "compact" },
        el("caption", { class: "visually-hidden", text: "Active sign-in sessions" }),
        el("thead", {}, el("tr", {}, ...["Signed in", "Last used", "Expires", "From", ""].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", { id: "session-rows" })),
      el("p", { id: "no-sessions", class: "empty", text: "No sign-in session: this tab uses a token made outside alertledger's sign-in." }),
      el("p", { id: "sessions-message", class: "message", role: "status", "aria-live": "polite" }))));
}

export async function show(view) {
  if (!state.built) {
    build(view);
    state.built = true;
  }
  await load();
}

async function load() {
  const me = await get("/api/v1/me");
  session.me = me;
  const tenants = me.all_tenants ? "all tenants" : me.tenants.map(tenantName).join(", ") || "none";
  $("profile-facts").replaceChildren(
    el("dt", { text: "Name" }), el("dd", { text: me.name }),
    el("dt", { text: "Email" }), el("dd", { text: me.email || "–" }),
    el("dt", { text: "Role" }), el("dd", { text: words(me.role) }),
    el("dt", { text: "Tenants" }), el("dd", { text: tenants }),
    el("dt", { text: "User id" }), el("dd", {}, el("code", { text: me.id })));
  $("password-form").hidden = !me.email;
  const page = await get("/api/v1/me/sessions");
  const items = page.items || [];
  $("no-sessions").hidden = items.length > 0;
  $("session-rows").replaceChildren(...items.map((s) => el("tr", { "data-session-id": s.id },
    el("td", {}, time(s.created_at, true), s.current ? el("strong", { text: " (this tab)" }) : null),
    el("td", {}, time(s.last_used_at, true)),
    el("td", {}, time(s.expires_at, true)),
    el("td", { text: [s.source_ip, s.user_agent && s.user_agent.slice(0, 40)].filter(Boolean).join(" · ") || "–" }),
    el("td", {}, el("button", {
      type: "button", class: "reject small", "aria-label": "Sign out the session from " + new Date(s.created_at).toLocaleString(),
      onclick: (e) => act($("sessions-message"), e.currentTarget, async () => {
        await call("/api/v1/me/sessions/" + encodeURIComponent(s.id), "DELETE");
        if (s.current) {
          if (session.onSignedOut) session.onSignedOut("You signed this session out.");
          return;
        }
        await load();
      }, "Session signed out."),
    }, "Sign out")))));
}

function changePassword(event) {
  event.preventDefault();
  const f = event.target.elements;
  act($("password-message"), event.submitter, async () => {
    await call("/api/v1/auth/password", "POST", { current: f.current.value, new: f.new.value });
    event.target.reset();
    await load();
  }, "Password changed.");
}

export function onEvent() {}

/// Forgets the view (called on sign-out: nothing of the previous person's
/// data stays in the page).
export function reset() {
  state.built = false;
}
