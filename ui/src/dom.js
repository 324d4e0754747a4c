// Small DOM helpers. Everything is built with createElement and textContent, never from HTML
// strings, so server data cannot inject markup and the strict CSP (no inline script or style)
// holds.

// h("tr.cls", {dataset: {id}, onclick}, child, ...): an element with attributes and children.
// Children may be strings, numbers, nodes, arrays or null (skipped).
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "class") el.className += (el.className ? " " : "") + value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// Appends children (skipping null, false and undefined) to `el`.
export function add(el, ...children) {
  append(el, children);
  return el;
}

// Replaces the children of `el`.
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const DAY_MS = 86400 * 1000;

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
}

export function daysUntil(iso, now = Date.now()) {
  return iso ? (new Date(iso).getTime() - now) / DAY_MS : null;
}

// The expiry class of a not_after: "expired", "crit" (< 7 days), "warn" (< 30 days) or "ok".
export function expiryClass(iso, now = Date.now()) {
  const d = daysUntil(iso, now);
  if (d === null) return "none";
  if (d < 0) return "expired";
  if (d < 7) return "crit";
  if (d < 30) return "warn";
  return "ok";
}

export function expiryCell(iso) {
  const d = daysUntil(iso);
  const label = d === null ? "—" : d < 0 ? "expired" : `${Math.floor(d)} d`;
  return h("td", { class: `exp exp-${expiryClass(iso)}`, title: fmtTime(iso) }, label);
}

export function badge(text, kind) {
  return h(`span.badge.badge-${kind || text}`, text);
}

export function tags(map) {
  return Object.entries(map || {}).map(([k, v]) => h("span.tag", `${k}=${v}`));
}

// A table with a header row and `rows` (arrays of cells or <tr> elements).
export function table(headers, rows, empty = "Nothing here.") {
  const body = rows.length
    ? rows
    : [h("tr", h("td.empty", { colSpan: headers.length }, empty))];
  return h("table.grid", h("thead", h("tr", headers.map((x) => h("th", x)))), h("tbody", body));
}

export function errorBox(err) {
  return h("div.error", { role: "alert" }, err && err.message ? err.message : String(err));
}
