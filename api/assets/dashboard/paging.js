// Settings for who gets told and paged: notification rules (which incident
// events notify which channels, or start an escalation policy), escalation
// policies (ordered levels, each after a delay, to channels or to whoever
// is on call in a schedule) and on-call schedules (a daily or weekly
// rotation in an IANA time zone, ordered participants each with the channel
// that reaches them, and overrides). Each has a form that creates and, from
// a list entry's "Edit", changes; the API's 422 is shown beside the form
// with the field marked. The three depend on each other (a rule names a
// policy, a policy a schedule, all of them channels), so one load reads
// them together and refreshes every choice list.
"use strict";

import {
  $, el, get, call, act, say, field, select, time, words, section, checkboxes, checked, lines,
  isoOf, timeZones, SEVERITIES,
} from "./core.js";

const RULE_EVENTS = [
  ["incident_opened", "Incident opened"], ["incident_acknowledged", "Acknowledged"],
  ["incident_escalated", "Escalated"], ["incident_reopened", "Reopened"],
  ["incident_resolved", "Resolved"], ["approval_requested", "Approval requested"],
  ["execution_failed", "Runbook run failed"],
];

/// What the last load read: the tenant's channels, schedules and policies
/// (for the forms' choices and the lists' names), and which item each form
/// edits (null: the form creates).
const state = { base: null, tenant: null, channels: [], schedules: [], policies: [], editing: {} };

const message = (id) => $(id + "-message");
const nameOf = (items, id) => (items.find((item) => item.id === id) || {}).name || String(id).slice(0, 8);
const channelChoices = () => state.channels.map((c) => [c.id, c.name + " (" + c.type + ")"]);

export function sections() {
  return [
    section("set-rules", "Notification rules",
      el("p", { class: "hint", text: "Which incident events notify which channels, or start an escalation policy. A rule matches incidents of at least its severity whose alerts match every matcher." }),
      el("ul", { id: "rule-list", class: "plain-list" }),
      ruleForm()),
    section("set-escalations", "Escalation policies",
      el("p", { class: "hint", text: "Levels in order: each is reached after its delay unless the incident is acknowledged, and notifies its channels or whoever is on call." }),
      el("ul", { id: "policy-list", class: "plain-list" }),
      policyForm()),
    section("set-schedules", "On-call schedules",
      el("p", { class: "hint", text: "Participants take turns, handing over daily or weekly at a local time; an override puts someone else on call for a while." }),
      el("ul", { id: "schedule-list", class: "plain-list" }),
      scheduleForm(),
      overrideForm()),
  ];
}

// ---- loading -----------------------------------------------------------------------

/// Reads the tenant's schedules, policies and rules (and who is on call
/// now) and shows them; `channels` are the tenant's notification channels.
export async function load(tenant, channels) {
  state.tenant = tenant;
  state.base = "/api/v1/tenants/" + encodeURIComponent(tenant);
  state.channels = channels;
  const base = state.base;
  const [schedules, policies, rules, onCall] = await Promise.all([
    get(base + "/oncall-schedules"), get(base + "/escalation-policies"), get(base + "/notification-rules"),
    get("/api/v1/oncall?tenant=" + encodeURIComponent(tenant)).catch(() => ({ items: [] })),
  ]);
  state.schedules = schedules.items || [];
  state.policies = policies.items || [];
  refreshChoices();
  renderSchedules(onCall.items || []);
  renderPolicies();
  renderRules(rules.items || []);
}

async function reload() {
  const channels = await get(state.base + "/notification-channels");
  await load(state.tenant, channels.items || []);
}

/// Rebuilds the forms' choice lists from what was loaded, keeping what
/// was chosen.
function refreshChoices() {
  const form = $("rule-form");
  const keep = checked(form, "channels");
  form.querySelector("fieldset.rule-channels").replaceWith(ruleChannels(keep));
  fill(form.elements.escalation_policy, [["", "Choose a policy"], ...state.policies.map((p) => [p.id, p.name])]);
  for (const row of $("level-rows").children) refreshLevel(row);
  for (const row of $("participant-rows").children) fill(row.querySelector("select"), channelChoices());
  const override = $("override-form");
  fill(override.elements.schedule, state.schedules.map((s) => [s.id, s.name]));
  fill(override.elements.channel_id, channelChoices());
}

function fill(selectNode, options) {
  const value = selectNode.value;
  selectNode.replaceChildren(...options.map(([v, label]) => el("option", { value: v, text: label })));
  if (options.some(([v]) => v === value)) selectNode.value = value;
}

/// An entry of a list with its Edit and Delete buttons.
function entry(kind, item, describe, onEdit, path, sectionId, after) {
  return el("li", { "data-id": item.id },
    el("strong", { text: item.name }), " ", ...describe, " ",
    el("span", { class: "entry-buttons" },
      el("button", { type: "button", class: "quiet small", "aria-label": "Edit " + kind + " " + item.name, onclick: () => onEdit(item) }, "Edit"), " ",
      el("button", { type: "button", class: "reject small", "aria-label": "Delete " + kind + " " + item.name, onclick: (e) => act(message(sectionId), e.currentTarget, async () => {
        await call(state.base + path + encodeURIComponent(item.id), "DELETE");
        await (after || reload)();
      }, words(kind.charAt(0).toUpperCase() + kind.slice(1)) + " deleted.") }, "Delete")));
}

/// Puts a form into "change this item" mode (or back to "create").
function editing(formId, item, createLabel, changeLabel) {
  state.editing[formId] = item ? item.id : null;
  const form = $(formId);
  form.querySelector("button[type=submit]").textContent = item ? changeLabel : createLabel;
  form.querySelector("button.cancel-edit").hidden = !item;
  form.querySelector(".editing-note").textContent = item ? "Changing “" + item.name + "”." : "";
  if (item) form.elements.name.focus();
}

function formButtons(formId, createLabel, changeLabel, clear) {
  return el("div", { class: "buttons form-end" },
    el("button", { type: "submit", text: createLabel }),
    el("button", { type: "button", class: "quiet cancel-edit", hidden: true, onclick: () => { clear(); editing(formId, null, createLabel, changeLabel); } }, "Cancel change"),
    el("span", { class: "editing-note subtle", "aria-live": "polite" }));
}

/// Submits a create-or-change form: POST to `path`, or PUT to the edited item.
function save(event, formId, path, body, sectionId, done, after) {
  event.preventDefault();
  const id = state.editing[formId];
  return act(message(sectionId), event.submitter, async () => {
    const answer = await call(state.base + path + (id ? "/" + encodeURIComponent(id) : ""), id ? "PUT" : "POST", body());
    after();
    await reload();
    return answer;
  }, id ? done + " changed." : done + " created.", $(formId));
}

// ---- notification rules ------------------------------------------------------------

function ruleChannels(keep) {
  const group = checkboxes("Channels", "channels", channelChoices(), keep, "channels");
  group.classList.add("rule-channels");
  return group;
}

function ruleForm() {
  const target = select("target", [["channels", "Notify channels"], ["policy", "Start an escalation policy"]], "channels");
  const severity = select("min_severity", [["", "Any severity"], ...SEVERITIES.map((s) => [s, s + " and above"])], "");
  severity.dataset.field = "min_severity";
  const policy = select("escalation_policy", [], "");
  policy.dataset.field = "escalation_policy";
  const form = el("form", { id: "rule-form", class: "grid-form", onsubmit: saveRule },
    field("Rule name", el("input", { name: "name", required: true, "data-field": "name" })),
    field("Minimum severity", severity),
    el("div", { class: "wide" }, checkboxes("Events", "events", RULE_EVENTS, ["incident_opened"], "events")),
    field("Matchers (one per line)", el("textarea", { name: "matchers", rows: 2, "data-field": "matchers", placeholder: "asset=~\"srv-db-.*\"" }), "Alertmanager syntax on asset, signature, severity, source or a label; none: every incident"),
    field("Then", target),
    el("div", { class: "wide for-channels" }, ruleChannels([])),
    el("div", { class: "for-policy", hidden: true }, field("Escalation policy", policy)),
    formButtons("rule-form", "Create rule", "Save rule", () => resetRule(form)));
  const sync = () => {
    form.querySelector(".for-channels").hidden = target.value !== "channels";
    form.querySelector(".for-policy").hidden = target.value !== "policy";
  };
  target.addEventListener("change", sync);
  form.sync = sync;
  return form;
}

function resetRule(form) {
  form.reset();
  form.sync();
}

function saveRule(event) {
  const form = event.target;
  const f = form.elements;
  const body = () => {
    const rule = { name: f.name.value.trim(), events: checked(form, "events"), matchers: lines(f.matchers.value) };
    if (f.min_severity.value) rule.min_severity = f.min_severity.value;
    if (f.target.value === "policy") rule.escalation_policy = f.escalation_policy.value;
    else rule.channels = checked(form, "channels");
    return rule;
  };
  save(event, "rule-form", "/notification-rules", body, "set-rules", "Rule", () => {
    resetRule(form);
    editing("rule-form", null, "Create rule", "Save rule");
  });
}

function editRule(rule) {
  const form = $("rule-form");
  const f = form.elements;
  f.name.value = rule.name;
  f.min_severity.value = rule.min_severity || "";
  for (const box of form.querySelectorAll("input[name=events]")) box.checked = rule.events.includes(box.value);
  f.matchers.value = (rule.matchers || []).join("\n");
  f.target.value = rule.escalation_policy ? "policy" : "channels";
  for (const box of form.querySelectorAll("input[name=channels]")) box.checked = (rule.channels || []).includes(box.value);
  if (rule.escalation_policy) f.escalation_policy.value = rule.escalation_policy;
  form.sync();
  editing("rule-form", rule, "Create rule", "Save rule");
}

function renderRules(rules) {
  $("rule-list").replaceChildren(...(rules.length ? rules.map((rule) => entry("rule", rule, [
    el("span", { class: "subtle" },
      rule.events.map((e) => words(e)).join(", "),
      rule.min_severity ? " · " + rule.min_severity + " and above" : "",
      (rule.matchers || []).length ? " · " + rule.matchers.join(", ") : "",
      " → ", rule.escalation_policy ? "policy " + nameOf(state.policies, rule.escalation_policy)
        : (rule.channels || []).map((c) => nameOf(state.channels, c)).join(", ")),
  ], editRule, "/notification-rules/", "set-rules")) : [el("li", { class: "empty", text: "No rule: nobody is notified." })]));
}

// ---- escalation policies ------------------------------------------------------------

function policyForm() {
  const form = el("form", { id: "escalation-form", class: "grid-form", onsubmit: savePolicy },
    field("Policy name", el("input", { name: "name", required: true, "data-field": "name" })),
    field("Repeat (times after the last level)", el("input", { name: "repeat", type: "number", min: 0, max: 9, value: 0, "data-field": "repeat" })),
    el("div", { class: "wide" },
      el("fieldset", { class: "rows", "data-field": "levels", tabindex: "-1" },
        el("legend", { text: "Levels, in order" }),
        el("ol", { id: "level-rows", class: "ordered-rows" }),
        el("button", { type: "button", class: "quiet small", onclick: () => addLevel(), text: "Add a level" }))),
    formButtons("escalation-form", "Create policy", "Save policy", () => resetPolicy(form)));
  return form;
}

function resetPolicy(form) {
  form.reset();
  $("level-rows").replaceChildren();
  addLevel();
}

function addLevel(level) {
  const rows = $("level-rows");
  const row = el("li", { class: "ordered-row level" });
  const delay = el("input", { name: "delay_minutes", type: "number", min: 1, max: 10080, value: level ? level.delay_minutes : 10, required: true });
  const kind = select("kind", [["channels", "Channels"], ["schedule", "Whoever is on call"]], level && level.schedule ? "schedule" : "channels");
  const schedule = select("schedule", [], "");
  row.append(
    field("Delay (minutes)", delay),
    field("Notify", kind),
    el("div", { class: "level-channels" }),
    el("div", { class: "level-schedule" }, field("On-call schedule", schedule)),
    moveButtons(row, "level", renumberLevels));
  row.initial = level || null;
  kind.addEventListener("change", () => refreshLevel(row));
  rows.append(row);
  renumberLevels();
  refreshLevel(row);
  if (level && level.schedule) schedule.value = level.schedule;
}

/// Up, down and remove for an ordered row; `after` renumbers the rows.
function moveButtons(row, noun, after) {
  const move = (delta) => {
    const sibling = delta < 0 ? row.previousElementSibling : row.nextElementSibling;
    if (!sibling) return;
    if (delta < 0) sibling.before(row); else sibling.after(row);
    after();
  };
  return el("div", { class: "row-buttons" },
    el("button", { type: "button", class: "quiet small move-up", onclick: () => move(-1), text: "Up" }),
    el("button", { type: "button", class: "quiet small move-down", onclick: () => move(1), text: "Down" }),
    el("button", { type: "button", class: "reject small", onclick: () => { row.remove(); after(); }, text: "Remove" }));
}

/// Numbers the levels (labels and `data-field`, so a refusal of
/// `levels[1].delay_minutes` points at the second row).
function renumberLevels() {
  [...$("level-rows").children].forEach((row, index) => {
    row.dataset.field = "levels[" + index + "]";
    row.querySelector("input[name=delay_minutes]").dataset.field = "levels[" + index + "].delay_minutes";
    row.querySelector("select[name=schedule]").dataset.field = "levels[" + index + "].schedule";
    const group = row.querySelector("fieldset");
    if (group) group.dataset.field = "levels[" + index + "].channels";
    labelRow(row, "Level " + (index + 1));
  });
}

/// Gives a row's buttons names that say which row they move.
function labelRow(row, name) {
  row.setAttribute("aria-label", name);
  row.querySelector(".move-up").setAttribute("aria-label", "Move " + name.toLowerCase() + " up");
  row.querySelector(".move-down").setAttribute("aria-label", "Move " + name.toLowerCase() + " down");
  row.querySelector(".reject").setAttribute("aria-label", "Remove " + name.toLowerCase());
}

/// Shows the level's channels or its schedule, with today's choices.
function refreshLevel(row) {
  const kind = row.querySelector("select[name=kind]").value;
  const keep = row.initial && row.initial.channels ? row.initial.channels : checked(row, "level_channels");
  row.initial = null;
  const index = [...row.parentNode.children].indexOf(row);
  const group = checkboxes("Channels", "level_channels", channelChoices(), keep, "levels[" + index + "].channels");
  row.querySelector(".level-channels").replaceChildren(group);
  fill(row.querySelector("select[name=schedule]"), [["", "Choose a schedule"], ...state.schedules.map((s) => [s.id, s.name])]);
  row.querySelector(".level-channels").hidden = kind !== "channels";
  row.querySelector(".level-schedule").hidden = kind !== "schedule";
}

function savePolicy(event) {
  const form = event.target;
  const body = () => ({
    name: form.elements.name.value.trim(),
    repeat: Number(form.elements.repeat.value || 0),
    levels: [...$("level-rows").children].map((row) => {
      const delay = Number(row.querySelector("input[name=delay_minutes]").value);
      return row.querySelector("select[name=kind]").value === "schedule"
        ? { delay_minutes: delay, schedule: row.querySelector("select[name=schedule]").value }
        : { delay_minutes: delay, channels: checked(row, "level_channels") };
    }),
  });
  save(event, "escalation-form", "/escalation-policies", body, "set-escalations", "Policy", () => {
    resetPolicy(form);
    editing("escalation-form", null, "Create policy", "Save policy");
  });
}

function editPolicy(policy) {
  const form = $("escalation-form");
  form.elements.name.value = policy.name;
  form.elements.repeat.value = policy.repeat || 0;
  $("level-rows").replaceChildren();
  for (const level of policy.levels) addLevel(level);
  editing("escalation-form", policy, "Create policy", "Save policy");
}

function levelText(level, index) {
  const whom = level.schedule ? "on call in " + nameOf(state.schedules, level.schedule)
    : (level.channels || []).map((c) => nameOf(state.channels, c)).join(", ");
  return (index + 1) + ". after " + level.delay_minutes + " min → " + whom;
}

function renderPolicies() {
  const items = state.policies;
  $("policy-list").replaceChildren(...(items.length ? items.map((policy) => entry("policy", policy, [
    el("span", { class: "subtle" }, policy.levels.map(levelText).join("; "),
      policy.repeat ? " · repeats " + policy.repeat + "×" : ""),
  ], editPolicy, "/escalation-policies/", "set-escalations")) : [el("li", { class: "empty", text: "No escalation policy." })]));
}

// ---- on-call schedules ----------------------------------------------------------------

function scheduleForm() {
  const zones = el("datalist", { id: "time-zones" }, ...timeZones().map((zone) => el("option", { value: zone })));
  const handoff = select("handoff", [["weekly", "Weekly"], ["daily", "Daily"]], "weekly");
  handoff.dataset.field = "rotation.handoff";
  const form = el("form", { id: "schedule-form", class: "grid-form", onsubmit: saveSchedule },
    field("Schedule name", el("input", { name: "name", required: true, "data-field": "name" })),
    field("Time zone (IANA)", el("input", { name: "timezone", list: "time-zones", required: true, value: timeZones()[0], "data-field": "timezone", autocomplete: "off" })),
    field("Handoff", handoff),
    field("Handoff time (local)", el("input", { name: "handoff_time", type: "time", value: "09:00", required: true, "data-field": "rotation.handoff_time" })),
    field("First shift on (optional)", el("input", { name: "start_date", type: "date", "data-field": "rotation.start_date" }), "A weekly rotation hands over on this weekday; default: today."),
    zones,
    el("div", { class: "wide" },
      el("fieldset", { class: "rows", "data-field": "participants", tabindex: "-1" },
        el("legend", { text: "Participants, in rotation order" }),
        el("ol", { id: "participant-rows", class: "ordered-rows" }),
        el("button", { type: "button", class: "quiet small", onclick: () => addParticipant(), text: "Add a participant" }))),
    formButtons("schedule-form", "Create schedule", "Save schedule", () => resetSchedule(form)));
  return form;
}

function resetSchedule(form) {
  form.reset();
  $("participant-rows").replaceChildren();
  addParticipant();
}

function addParticipant(participant) {
  const row = el("li", { class: "ordered-row participant" });
  const channel = select("channel_id", channelChoices(), participant ? participant.channel_id : "");
  row.append(
    field("Name", el("input", { name: "participant_name", required: true, value: participant ? participant.name : "" })),
    field("Reached through", channel),
    moveButtons(row, "participant", renumberParticipants));
  $("participant-rows").append(row);
  renumberParticipants();
}

function renumberParticipants() {
  [...$("participant-rows").children].forEach((row, index) => {
    row.dataset.field = "participants[" + index + "]";
    row.querySelector("input[name=participant_name]").dataset.field = "participants[" + index + "].name";
    row.querySelector("select[name=channel_id]").dataset.field = "participants[" + index + "].channel_id";
    labelRow(row, "Participant " + (index + 1));
  });
}

function saveSchedule(event) {
  const form = event.target;
  const f = form.elements;
  const body = () => {
    const rotation = { handoff: f.handoff.value, handoff_time: f.handoff_time.value };
    if (f.start_date.value) rotation.start_date = f.start_date.value;
    return {
      name: f.name.value.trim(), timezone: f.timezone.value.trim(), rotation,
      participants: [...$("participant-rows").children].map((row) => ({
        name: row.querySelector("input[name=participant_name]").value.trim(),
        channel_id: row.querySelector("select[name=channel_id]").value,
      })),
    };
  };
  save(event, "schedule-form", "/oncall-schedules", body, "set-schedules", "Schedule", () => {
    resetSchedule(form);
    editing("schedule-form", null, "Create schedule", "Save schedule");
  });
}

function editSchedule(schedule) {
  const f = $("schedule-form").elements;
  f.name.value = schedule.name;
  f.timezone.value = schedule.timezone;
  f.handoff.value = schedule.rotation.handoff;
  f.handoff_time.value = schedule.rotation.handoff_time;
  f.start_date.value = schedule.rotation.start_date || "";
  $("participant-rows").replaceChildren();
  for (const participant of schedule.participants) addParticipant(participant);
  editing("schedule-form", schedule, "Create schedule", "Save schedule");
}

function renderSchedules(onCall) {
  const items = state.schedules;
  $("schedule-list").replaceChildren(...(items.length ? items.map((schedule) => {
    const now = onCall.find((o) => o.schedule_id === schedule.id);
    const node = entry("schedule", schedule, [
      el("span", { class: "subtle" },
        words(schedule.rotation.handoff) + " at " + schedule.rotation.handoff_time + " " + schedule.timezone,
        " · ", schedule.participants.map((p) => p.name + " (" + nameOf(state.channels, p.channel_id) + ")").join(" → ")),
      now && now.participant ? el("span", { class: "badge on", text: "on call: " + now.participant.name }) : null,
    ], editSchedule, "/oncall-schedules/", "set-schedules");
    if ((schedule.overrides || []).length) {
      node.append(el("ul", { class: "overrides" }, ...schedule.overrides.map((o) => el("li", {},
        "Override: " + o.participant.name + " ", time(o.starts_at, true), " → ", time(o.ends_at, true), " ",
        el("button", { type: "button", class: "reject small", "aria-label": "Remove the override of " + o.participant.name, onclick: (e) => act(message("set-schedules"), e.currentTarget, async () => {
          await call(state.base + "/oncall-schedules/" + encodeURIComponent(schedule.id) + "/overrides/" + encodeURIComponent(o.id), "DELETE");
          await reload();
        }, "Override removed.") }, "Remove")))));
    }
    return node;
  }) : [el("li", { class: "empty", text: "No on-call schedule." })]));
}

function overrideForm() {
  const schedule = select("schedule", [], "");
  const channel = select("channel_id", [], "");
  channel.dataset.field = "participant.channel_id";
  return el("details", { class: "override" },
    el("summary", { text: "Add an override" }),
    el("form", { id: "override-form", class: "grid-form", onsubmit: addOverride },
      field("Schedule", schedule),
      field("Who", el("input", { name: "participant_name", required: true, "data-field": "participant.name" })),
      field("Reached through", channel),
      field("From", el("input", { name: "starts_at", type: "datetime-local", required: true, "data-field": "starts_at" })),
      field("Until", el("input", { name: "ends_at", type: "datetime-local", required: true, "data-field": "ends_at" })),
      el("div", { class: "buttons form-end" }, el("button", { type: "submit", text: "Add override" }))));
}

function addOverride(event) {
  event.preventDefault();
  const form = event.target;
  const f = form.elements;
  act(message("set-schedules"), event.submitter, async () => {
    await call(state.base + "/oncall-schedules/" + encodeURIComponent(f.schedule.value) + "/overrides", "POST", {
      participant: { name: f.participant_name.value.trim(), channel_id: f.channel_id.value },
      starts_at: isoOf(f.starts_at.value), ends_at: isoOf(f.ends_at.value),
    });
    form.reset();
    await reload();
  }, "Override added.", form);
}

/// Puts the forms back to creating, with one empty level and participant
/// (a new tenant, or after signing in again).
export function resetForms() {
  resetRule($("rule-form"));
  resetPolicy($("escalation-form"));
  resetSchedule($("schedule-form"));
  editing("rule-form", null, "Create rule", "Save rule");
  editing("escalation-form", null, "Create policy", "Save policy");
  editing("schedule-form", null, "Create schedule", "Save schedule");
  say(message("set-rules"), "");
}
