/* Small DOM and formatting helpers of the desk's modules. Text from the server (descriptions,
 * notes, names) is only ever set as text (textContent), never parsed as HTML. */

export function $(id) {
  return document.getElementById(id);
}

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function option(value, label, selected) {
  const o = el("option", "", label);
  o.value = value;
  if (selected) o.selected = true;
  return o;
}

// Times come from the API in city time with their offset (2026-12-02T10:23:00.123+08:00): the
// digits are shown as they are, whatever the browser's own time zone.
export function shortTime(iso) {
  if (!iso) return "—";
  return String(iso).slice(5, 16).replace("T", " ");
}

export function fullTime(iso) {
  if (!iso) return "—";
  return String(iso).slice(0, 16).replace("T", " ");
}

// How long ago a deadline passed: 35 分钟, 5 小时, 3 天.
export function lateBy(iso, now = Date.now()) {
  const ms = now - Date.parse(iso);
  if (!(ms > 0)) return "";
  const minutes = Math.floor(ms / 60000);
  if (minutes < 60) return minutes + " 分钟";
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return hours + " 小时";
  return Math.floor(hours / 24) + " 天";
}

export function percent(value) {
  if (value === null || value === undefined || !isFinite(value)) return "—";
  return (100 * value).toFixed(1) + "%";
}

// A state badge, coloured by desk.css (.yzd-s-<state>).
export function stateBadge(words, state) {
  const badge = el("span", "yzd-badge yzd-s-" + safeClass(state), words.states[state] || state);
  badge.dataset.state = state;
  return badge;
}

// A class name part from a code: only letters, digits, - and _.
export function safeClass(code) {
  return String(code).replace(/[^A-Za-z0-9_-]/g, "_");
}
