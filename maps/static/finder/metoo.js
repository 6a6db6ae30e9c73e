/* Before a report is sent: the open cases of its category near its position
 * (/api/tips/nearby). When there are some, the form lists them, each with 我也遇到 (a "me too"
 * on that case, /api/tips/{tip_id}/confirm, instead of a second report), and 仍要上报 to send
 * the report anyway. Every text from the server is set as text. */

import { $, distanceText, el } from "./dom.js";
import { myTips, reporterId } from "./queue.js";

const ASK_TIMEOUT_MS = 5000; // a slow answer is not waited for: the report goes as it is

function shortTime(iso) {
  return typeof iso === "string" ? iso.slice(5, 16).replace("T", " ") : "";
}

// The open cases near ``post`` ({lon, lat, crs}) in ``category``; null when they cannot be
// asked for (offline, an error): then the report is sent without asking.
export async function findNearby(post, category) {
  const query = new URLSearchParams({
    lon: String(post.lon),
    lat: String(post.lat),
    crs: post.crs,
    category: category,
  });
  const abort = new AbortController();
  const timer = window.setTimeout(() => abort.abort(), ASK_TIMEOUT_MS);
  try {
    const res = await fetch("/api/tips/nearby?" + query, { signal: abort.signal });
    if (!res.ok) return null;
    const data = await res.json();
    return Array.isArray(data.cases) ? data.cases : null;
  } catch (e) {
    return null;
  } finally {
    window.clearTimeout(timer);
  }
}

export function hideNearby() {
  const box = $("yz-dups");
  box.textContent = "";
  box.hidden = true;
}

function countText(n) {
  return n > 0 ? n + " 人也遇到" : "";
}

async function confirmCase(tipId) {
  try {
    const res = await fetch("/api/tips/" + encodeURIComponent(tipId) + "/confirm", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ reporter_id: reporterId() }),
    });
    return { status: res.status, data: await res.json().catch(() => ({})) };
  } catch (e) {
    return { status: 0, data: {} };
  }
}

// List ``cases`` in the form. ``sendAnyway()`` sends the report; ``confirmed(answer)`` is told
// of a "me too" the server took (the report is then not sent); ``say(text, kind)`` speaks.
export function askFirst(cases, { sendAnyway, confirmed, say }) {
  const box = $("yz-dups");
  box.textContent = "";
  box.hidden = false;
  const mine = new Set(myTips().map((t) => t.tip_id));
  box.appendChild(
    el("p", "yz-dups-head", "附近已有 " + cases.length + " 条同类问题在处理，是同一个吗？"),
  );
  const list = el("ol", "yz-dups-list");
  for (const c of cases) {
    const li = el("li", "yz-dup");
    li.setAttribute("data-tip", c.tip_id);
    const head = el("div", "yz-dup-head");
    head.appendChild(el("b", "", c.category_name || c.category));
    head.appendChild(el("span", "yz-dup-dist", distanceText(c.distance_m)));
    li.appendChild(head);
    const meta = el("div", "yz-dup-meta");
    meta.appendChild(el("span", "yz-state", c.state_name || c.state));
    meta.appendChild(el("span", "", shortTime(c.reported_at)));
    if (c.street_name) meta.appendChild(el("span", "", c.street_name));
    const count = el("span", "yz-dup-count", countText(c.confirmations));
    meta.appendChild(count);
    li.appendChild(meta);
    if (c.description) li.appendChild(el("p", "yz-dup-desc", c.description));
    if (mine.has(c.tip_id)) {
      li.appendChild(el("span", "yz-dup-mine", "我的上报"));
    } else {
      const button = el("button", "yz-btn yz-metoo", "我也遇到");
      button.type = "button";
      button.addEventListener("click", async () => {
        button.disabled = true;
        const answer = await confirmCase(c.tip_id);
        if (answer.status === 200) {
          count.textContent = countText(answer.data.confirmations);
          button.replaceWith(el("span", "yz-dup-done", "已记录"));
          const anyway = $("yz-send-anyway");
          if (anyway) anyway.remove();
          confirmed(answer.data);
          return;
        }
        button.disabled = false;
        if (answer.status === 409) {
          button.disabled = true;
          say("这个问题已结案或不予立案，可以点“仍要上报”。", "warn");
        } else if (answer.status === 429) {
          say("操作太频繁，请稍后再试。", "warn");
        } else if (answer.status === 0) {
          say("网络不可用，请稍后再试。", "err");
        } else {
          const why = (answer.data && answer.data.detail) || "HTTP " + answer.status;
          say("没能记录：" + why, "err");
        }
      });
      li.appendChild(button);
    }
    list.appendChild(li);
  }
  box.appendChild(list);
  const anyway = el("button", "yz-btn yz-primary", "仍要上报");
  anyway.type = "button";
  anyway.id = "yz-send-anyway";
  anyway.addEventListener("click", () => {
    hideNearby();
    sendAnyway();
  });
  box.appendChild(anyway);
  box.scrollIntoView({ block: "nearest" });
}
