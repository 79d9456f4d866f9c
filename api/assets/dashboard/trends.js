// The trends view: 30 days of KPIs (alerts, incidents, noise reduction,
// MTTA, MTTR per day) for the tenant chosen in the switcher, or all of them,
// drawn as inline SVG by the small chart code below (no library: the page
// loads nothing from elsewhere). Each chart carries a text summary and a
// table of its figures for screen readers and for exact values.
"use strict";

import { $, el, get, duration, tenantParam, session, tenantName } from "./core.js";

const DAYS = 30;
const SVG = "http://www.w3.org/2000/svg";
const state = { built: false, timer: null };

const CHARTS = [
  { key: "alerts", title: "Alerts received", kind: "bar", format: (v) => String(v) },
  { key: "incidents", title: "Incidents opened", kind: "bar", format: (v) => String(v) },
  { key: "noise_reduction_pct", title: "Noise reduction", kind: "line", format: (v) => v.toFixed(1) + " %", max: 100 },
  { key: "mtta_seconds", title: "Mean time to acknowledge", kind: "line", format: duration, scale: durationMax },
  { key: "mttr_seconds", title: "Mean time to resolve", kind: "line", format: duration, scale: durationMax },
];

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) if (value != null) node.setAttribute(name, value);
  for (const child of children) if (child) node.append(child);
  return node;
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

/// The last `DAYS` UTC days, oldest first (the KPI read model counts UTC days).
function lastDays() {
  const today = new Date();
  const days = [];
  for (let i = DAYS - 1; i >= 0; i -= 1) {
    days.push(isoDay(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i))));
  }
  return days;
}

/// A round upper bound for the y axis.
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/// An upper bound for durations whose half reads well too (1 min, 2 min,
/// 4 min, 10 min, ..., a week).
function durationMax(seconds) {
  const bounds = [60, 120, 240, 600, 1200, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 604800];
  return bounds.find((bound) => bound >= seconds) || niceMax(seconds);
}

function chart(spec, days, values) {
  const W = 520, H = 170, left = 56, right = 10, top = 12, bottom = 26;
  const plotW = W - left - right, plotH = H - top - bottom;
  const present = values.filter((v) => v != null);
  const max = spec.max || (spec.scale || niceMax)(Math.max(0, ...present));
  const x = (i) => left + (plotW * (i + 0.5)) / days.length;
  const y = (v) => top + plotH - (plotH * v) / max;
  const titleId = "chart-" + spec.key + "-title";
  const descId = "chart-" + spec.key + "-desc";
  const last = present.length ? spec.format(present[present.length - 1]) : "no data";
  const summary = present.length
    ? spec.title + " over " + DAYS + " days: " + present.length + " days with data, highest " +
      spec.format(Math.max(...present)) + ", latest " + last + "."
    : spec.title + ": no data in the last " + DAYS + " days.";
  const root = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img", "aria-labelledby": titleId + " " + descId, "data-chart": spec.key });
  root.append(svg("title", { id: titleId }), svg("desc", { id: descId }));
  root.firstChild.textContent = spec.title;
  root.children[1].textContent = summary;
  if (!present.length) {
    const note = svg("text", { x: left + plotW / 2, y: top + plotH / 2, class: "axis empty-note", "text-anchor": "middle" });
    note.textContent = "No data in the last " + DAYS + " days";
    root.append(note);
  }
  // Grid lines and y labels at 0, half and the top (only the baseline without data).
  for (const fraction of present.length ? [0, 0.5, 1] : [0]) {
    const v = max * fraction;
    const line = svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid" });
    const label = svg("text", { x: left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" });
    label.textContent = spec.format(v);
    root.append(line, label);
  }
  // x labels: weekly, back from today.
  days.forEach((day, i) => {
    if ((days.length - 1 - i) % 7 !== 0) return;
    const label = svg("text", { x: x(i), y: H - 8, class: "axis", "text-anchor": "middle" });
    label.textContent = day.slice(5);
    root.append(label);
  });
  const barWidth = Math.max(2, (plotW / days.length) * 0.7);
  // Line charts: one segment per run of days with data (a gap breaks it).
  const segments = [];
  let segment = [];
  values.forEach((v, i) => {
    if (v == null) {
      if (segment.length) segments.push(segment);
      segment = [];
      return;
    }
    const tip = svg("title");
    tip.textContent = days[i] + ": " + spec.format(v);
    if (spec.kind === "bar") {
      // A day without any is left empty rather than a zero-height bar.
      if (v > 0) root.append(svg("rect", { x: x(i) - barWidth / 2, y: y(v), width: barWidth, height: Math.max(0, top + plotH - y(v)), class: "bar" }, tip));
    } else {
      segment.push(x(i).toFixed(1) + "," + y(v).toFixed(1));
      root.append(svg("circle", { cx: x(i), cy: y(v), r: 3, class: "point" }, tip));
    }
  });
  if (segment.length) segments.push(segment);
  if (spec.kind === "line" && segments.length) {
    const d = segments.map((points) => "M" + points.join("L")).join("");
    root.insertBefore(svg("path", { d, class: "line" }), root.querySelector("circle"));
  }
  const table = el("table", { class: "chart-table" },
    el("caption", { text: spec.title + " per day" }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Day" }), el("th", { scope: "col", text: spec.title }))),
    el("tbody", {}, ...days.map((day, i) => values[i] == null ? null
      : el("tr", {}, el("th", { scope: "row", text: day }), el("td", { text: spec.format(values[i]) })))));
  return el("figure", { class: "panel chart-box", "data-chart-box": spec.key },
    el("figcaption", {}, el("strong", { text: spec.title }), " ", el("span", { class: "subtle", text: "latest: " + last })),
    root,
    el("details", {}, el("summary", { text: "Figures" }), table));
}

function build(view) {
  view.replaceChildren(el("section", { class: "trends", "aria-labelledby": "trends-title" },
    el("h2", { id: "trends-title" }, "Trends ", el("span", { id: "trends-scope", class: "subtle" })),
    el("div", { id: "trend-totals", class: "cards" }),
    el("div", { id: "charts", class: "charts" })));
}

export async function show(view) {
  if (!state.built) {
    build(view);
    state.built = true;
  }
  await load();
}

async function load() {
  const days = lastDays();
  const kpis = await get("/api/v1/kpis?from=" + days[0] + "&to=" + days[days.length - 1] + tenantParam());
  const byDay = new Map((kpis.days || []).map((d) => [String(d.day), d]));
  $("trends-scope").textContent = "· last " + DAYS + " days · " + (session.tenant ? tenantName(session.tenant) : "all tenants");
  const totals = [
    ["Alerts", kpis.alerts], ["Incidents", kpis.incidents],
    ["Noise reduction", kpis.noise_reduction_pct == null ? "–" : kpis.noise_reduction_pct.toFixed(1) + " %"],
    ["MTTA", duration(kpis.mtta_seconds)], ["MTTR", duration(kpis.mttr_seconds)],
    ["Self-healed", kpis.auto_remediated], ["Escalations", kpis.escalations],
  ];
  $("trend-totals").replaceChildren(...totals.map(([label, value]) =>
    el("div", { class: "card" }, el("span", { class: "label", text: label }), el("span", { class: "value", text: value }))));
  $("charts").replaceChildren(...CHARTS.map((spec) => {
    // Counts are 0 on days without data; means are absent there.
    const values = days.map((day) => {
      const row = byDay.get(day);
      if (!row) return spec.kind === "bar" ? 0 : null;
      return row[spec.key] == null ? null : Number(row[spec.key]);
    });
    return chart(spec, days, values);
  }));
}

export function onEvent(event, current) {
  if (current !== "trends" || !state.built) return;
  if (!["Alert", "Incident", "Execution"].includes(event.aggregate_type)) return;
  clearTimeout(state.timer);
  state.timer = setTimeout(() => load().catch(() => {}), 1500);
}

/// Forgets the view (called on sign-out: nothing of the previous person's
/// data stays in the page).
export function reset() {
  state.built = false;
}
