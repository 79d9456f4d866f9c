// Settings: a tenant's maintenance windows. A one-off window (a start and an
// end) or a recurring one (a cron pattern or an RRULE, a duration and an
// IANA time zone, optionally bounded by a first start and a last end), both
// with Alertmanager matchers. Each form creates, or changes the window whose
// "Edit" was chosen; the API's 422 is shown beside the form with the field
// marked. Silences made from an incident are listed too (deleting one lifts
// it).
"use strict";

import {
  $, el, get, call, act, field, select, time, section, lines, isoOf, localOf, timeZones,
} from "./core.js";

const state = { tenant: null, editing: { "window-form": null, "recurring-form": null } };

const message = () => $("set-windows-message");

const MATCHER_HINT = "Alertmanager syntax on asset, signature, severity, source or a label";

export function sections() {
  return [section("set-windows", "Maintenance windows",
    el("p", { class: "hint", text: "Alerts that match a window in force are kept but open no incident and notify nobody." }),
    el("ul", { id: "window-list", class: "plain-list" }),
    el("div", { class: "two-forms" },
      el("div", {},
        el("h4", { text: "One-off window" }),
        el("form", { id: "window-form", class: "grid-form", onsubmit: saveOneOff },
          field("Name", el("input", { name: "name", id: "window-name", required: true, "data-field": "name" })),
          field("Starts", el("input", { name: "starts_at", id: "window-starts", type: "datetime-local", required: true, "data-field": "starts_at" })),
          field("Ends", el("input", { name: "ends_at", id: "window-ends", type: "datetime-local", required: true, "data-field": "ends_at" })),
          field("Matchers (one per line)", el("textarea", { name: "matchers", id: "window-matchers", rows: 2, placeholder: "asset=\"srv-db-01\"", "data-field": "matchers" }), MATCHER_HINT),
          buttons("window-form", "Create window"))),
      el("div", {},
        el("h4", { text: "Recurring window" }),
        recurringForm())))];
}

function buttons(formId, label) {
  return el("div", { class: "buttons form-end" },
    el("button", { type: "submit", text: label }),
    el("button", { type: "button", class: "quiet cancel-edit", hidden: true, onclick: () => stopEditing(formId) }, "Cancel change"),
    el("span", { class: "editing-note subtle", "aria-live": "polite" }));
}

function recurringForm() {
  const kind = select("kind", [["cron", "Cron pattern"], ["rrule", "RRULE (RFC 5545)"]], "cron");
  kind.id = "recurring-kind";
  const pattern = el("input", { name: "pattern", id: "recurring-pattern", required: true, placeholder: "0 2 * * SAT", "data-field": "schedule.cron", autocomplete: "off", spellcheck: "false" });
  const hint = el("p", { class: "hint", id: "recurring-pattern-hint" });
  pattern.setAttribute("aria-describedby", hint.id);
  const form = el("form", { id: "recurring-form", class: "grid-form", onsubmit: saveRecurring },
    field("Name", el("input", { name: "name", id: "recurring-name", required: true, "data-field": "name" })),
    field("Recurrence", kind),
    el("div", { class: "field wide" }, el("label", { for: pattern.id, text: "Pattern" }), pattern, hint),
    field("Duration (minutes)", el("input", { name: "duration_minutes", id: "recurring-duration", type: "number", min: 1, value: 120, required: true, "data-field": "schedule.duration_minutes" })),
    field("Time zone (IANA)", el("input", { name: "timezone", id: "recurring-timezone", list: "window-zones", required: true, value: timeZones()[0], "data-field": "schedule.timezone", autocomplete: "off" })),
    el("datalist", { id: "window-zones" }, ...timeZones().map((zone) => el("option", { value: zone }))),
    field("Not before (optional)", el("input", { name: "starts_at", id: "recurring-from", type: "datetime-local", "data-field": "starts_at" })),
    field("Not after (optional)", el("input", { name: "ends_at", id: "recurring-until", type: "datetime-local", "data-field": "ends_at" })),
    field("Matchers (one per line)", el("textarea", { name: "matchers", id: "recurring-matchers", rows: 2, placeholder: "asset=~\"srv-db-.*\"", "data-field": "matchers" }), MATCHER_HINT),
    buttons("recurring-form", "Create recurring window"));
  const sync = () => {
    const cron = kind.value === "cron";
    pattern.dataset.field = cron ? "schedule.cron" : "schedule.rrule";
    pattern.placeholder = cron ? "0 2 * * SAT" : "FREQ=WEEKLY;BYDAY=SA;BYHOUR=2";
    hint.textContent = cron
      ? "Minute hour day-of-month month day-of-week, in the time zone: each match starts a window of the duration."
      : "FREQ=DAILY, WEEKLY, MONTHLY or YEARLY (or HOURLY) with BYDAY, BYHOUR, ...; each occurrence starts a window of the duration.";
  };
  kind.addEventListener("change", sync);
  form.sync = sync;
  sync();
  return form;
}

export async function load(tenant) {
  state.tenant = tenant;
  const page = await get("/api/v1/maintenance-windows?limit=200&tenant=" + encodeURIComponent(tenant));
  const items = (page.items || []).filter((w) => !w.deleted);
  $("window-list").replaceChildren(...(items.length ? items.map(windowEntry) : [el("li", { class: "empty", text: "No maintenance window." })]));
}

function describe(w) {
  if (w.schedule) {
    const s = w.schedule;
    const rule = s.cron ? "cron " + s.cron : "RRULE " + s.rrule;
    return [rule + " · " + s.duration_minutes + " min · " + s.timezone,
      w.current_occurrence ? [" · now until ", time(w.current_occurrence.ends_at, true)] : null,
      w.starts_at ? [" · from ", time(w.starts_at, true)] : null,
      w.ends_at ? [" · until ", time(w.ends_at, true)] : null];
  }
  return [w.starts_at ? time(w.starts_at, true) : "", w.ends_at ? " → " : "", w.ends_at ? time(w.ends_at, true) : ""];
}

function windowEntry(w) {
  const name = w.name || "(silence)";
  return el("li", { "data-window-id": w.id, class: w.schedule ? "recurring" : "one-off" },
    el("strong", { text: name }), " ",
    el("span", { class: w.active ? "badge on" : "subtle", text: w.active ? "active" : "inactive" }), " ",
    el("span", { class: "subtle" }, describe(w), " · ", (w.matchers || []).join(", "), " · " + w.suppressed_alerts + " held"), " ",
    el("span", { class: "entry-buttons" },
      w.silenced_incident_id ? null : el("button", { type: "button", class: "quiet small", "aria-label": "Edit window " + name, onclick: () => edit(w) }, "Edit"), " ",
      el("button", { type: "button", class: "reject small", "aria-label": "Delete window " + name, onclick: (e) => act(message(), e.currentTarget, async () => {
        await call("/api/v1/maintenance-windows/" + encodeURIComponent(w.id), "DELETE");
        await load(state.tenant);
      }, "Window deleted.") }, "Delete")));
}

function edit(w) {
  const formId = w.schedule ? "recurring-form" : "window-form";
  const form = $(formId);
  const f = form.elements;
  f.name.value = w.name || "";
  f.starts_at.value = localOf(w.starts_at);
  f.ends_at.value = localOf(w.ends_at);
  f.matchers.value = (w.matchers || []).join("\n");
  if (w.schedule) {
    f.kind.value = w.schedule.cron ? "cron" : "rrule";
    f.pattern.value = w.schedule.cron || w.schedule.rrule;
    f.duration_minutes.value = w.schedule.duration_minutes;
    f.timezone.value = w.schedule.timezone;
    form.sync();
  }
  state.editing[formId] = w.id;
  form.querySelector("button[type=submit]").textContent = "Save window";
  form.querySelector(".cancel-edit").hidden = false;
  form.querySelector(".editing-note").textContent = "Changing “" + (w.name || w.id) + "”.";
  f.name.focus();
}

function stopEditing(formId) {
  const form = $(formId);
  form.reset();
  if (form.sync) form.sync();
  state.editing[formId] = null;
  form.querySelector("button[type=submit]").textContent = formId === "window-form" ? "Create window" : "Create recurring window";
  form.querySelector(".cancel-edit").hidden = true;
  form.querySelector(".editing-note").textContent = "";
}

/// POST a new window or PUT the edited one; 422s are shown beside the form.
function save(event, window) {
  event.preventDefault();
  const form = event.target;
  const id = state.editing[form.id];
  act(message(), event.submitter, async () => {
    if (id) await call("/api/v1/maintenance-windows/" + encodeURIComponent(id), "PUT", window());
    else await call("/api/v1/maintenance-windows", "POST", { tenant_id: state.tenant, ...window() });
    stopEditing(form.id);
    await load(state.tenant);
  }, id ? "Window changed." : "Window created.", form);
}

function saveOneOff(event) {
  const f = event.target.elements;
  // datetime-local is the browser's local time; the API takes RFC 3339.
  save(event, () => ({
    name: f.name.value.trim(), starts_at: isoOf(f.starts_at.value), ends_at: isoOf(f.ends_at.value),
    matchers: lines(f.matchers.value),
  }));
}

function saveRecurring(event) {
  const f = event.target.elements;
  save(event, () => {
    const schedule = { duration_minutes: Number(f.duration_minutes.value), timezone: f.timezone.value.trim() };
    schedule[f.kind.value] = f.pattern.value.trim();
    const window = { name: f.name.value.trim(), schedule, matchers: lines(f.matchers.value) };
    if (f.starts_at.value) window.starts_at = isoOf(f.starts_at.value);
    if (f.ends_at.value) window.ends_at = isoOf(f.ends_at.value);
    return window;
  });
}

export function resetForms() {
  stopEditing("window-form");
  stopEditing("recurring-form");
}
