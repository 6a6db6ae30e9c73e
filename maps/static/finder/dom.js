/* Small DOM helpers of the finder's modules. Text from the server or the rider is only ever set
 * as text (textContent), never parsed as HTML. */

export function $(id) {
  return document.getElementById(id);
}

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function distanceText(m) {
  if (m === null || m === undefined || isNaN(m)) return "—";
  return m < 1000 ? Math.round(m) + " 米" : (m / 1000).toFixed(1) + " 公里";
}

// A 导航 button; only Amap links are followed.
export function navLink(url) {
  const a = el("a", "yz-nav", "导航");
  if (typeof url === "string" && url.startsWith("https://uri.amap.com/")) a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}
