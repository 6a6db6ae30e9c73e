/* 我的上报: the reports this phone sent (their tip ids and receipts, kept by queue.js), each
 * with the state of its case in Chinese and the last public note of the staff, read from
 * /api/tips/{tip_id} whenever the tab is opened or 刷新 is pressed. Once a case is closed it
 * asks 问题解决了吗 (是 / 否 / 不清楚), answered with the tip's receipt to
 * /api/tips/{tip_id}/feedback: 否 sends the case back to its unit (已派遣 again). */

import { $, el } from "./dom.js";
import { myTips, updateMine } from "./queue.js";
import { activeTab, onOpenTab } from "./sheet.js";

const ANSWERS = [
  ["yes", "是"],
  ["no", "否"],
  ["unknown", "不清楚"],
];
const ANSWERED = { yes: "已反馈：问题已解决", unknown: "已反馈：不清楚" };

let refreshing = 0; // the latest refresh: an older one's answers are dropped

function mineStatus(text, kind) {
  const p = $("yz-mine-status");
  p.textContent = text;
  p.className = "yz-hint" + (kind ? " yz-" + kind : "");
}

function mineMessage(text, kind) {
  const p = $("yz-mine-msg");
  p.textContent = text;
  p.className = "yz-msg" + (kind ? " yz-" + kind : "");
}

function shortTime(iso) {
  return typeof iso === "string" ? iso.slice(5, 16).replace("T", " ") : "";
}

async function readTip(tipId) {
  try {
    const res = await fetch("/api/tips/" + encodeURIComponent(tipId), { cache: "no-store" });
    if (res.status === 404) return { missing: true };
    if (!res.ok) return null;
    return (await res.json()).properties;
  } catch (e) {
    return null;
  }
}

async function answer(mine, fixed, item) {
  for (const b of item.querySelectorAll("button")) b.disabled = true;
  let res = null;
  try {
    res = await fetch("/api/tips/" + encodeURIComponent(mine.tip_id) + "/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ receipt: mine.receipt, fixed: fixed }),
    });
  } catch (e) {
    res = null;
  }
  if (res && res.ok) {
    updateMine(mine.tip_id, { answered: fixed === "no" ? null : fixed });
    mineMessage(
      fixed === "no" ? "已反馈：问题未解决，已重新派给处置单位。" : "谢谢你的反馈！",
      "ok",
    );
  } else {
    mineMessage(
      res ? "反馈没有成功（HTTP " + res.status + "），请刷新后再试。" : "网络不可用，请稍后再试。",
      "err",
    );
  }
  return refreshMine();
}

function render(mine, props, list) {
  const item = el("li", "yz-mine-item");
  item.setAttribute("data-tip", mine.tip_id);
  const head = el("div", "yz-mine-head");
  head.appendChild(el("b", "", mine.category_name || (props && props.category_name) || "上报"));
  const state = el("span", "yz-state");
  head.appendChild(state);
  item.appendChild(head);
  item.appendChild(el("div", "yz-mine-meta", shortTime(mine.reported_at) + " · " + mine.tip_id));
  if (mine.description) item.appendChild(el("p", "yz-mine-desc", mine.description));
  if (props === null) {
    state.textContent = "状态未知";
    item.setAttribute("data-state", "unknown");
  } else if (props.missing) {
    state.textContent = "找不到这条上报";
    item.setAttribute("data-state", "missing");
  } else {
    state.textContent = props.state_name || props.state;
    item.setAttribute("data-state", props.state);
    const notes = props.notes || [];
    if (notes.length) {
      item.appendChild(el("p", "yz-mine-note", "处置反馈：" + notes[notes.length - 1].note));
    }
    if (props.state !== "closed" && mine.answered) updateMine(mine.tip_id, { answered: null });
    if (props.state === "closed") {
      if (mine.answered) {
        item.appendChild(el("p", "yz-hint yz-ok", ANSWERED[mine.answered] || "已反馈"));
      } else {
        const ask = el("div", "yz-ask");
        ask.appendChild(el("span", "yz-ask-q", "问题解决了吗？"));
        for (const [fixed, label] of ANSWERS) {
          const button = el("button", "yz-btn", label);
          button.type = "button";
          button.setAttribute("data-fixed", fixed);
          button.addEventListener("click", () => answer(mine, fixed, item));
          ask.appendChild(button);
        }
        item.appendChild(ask);
      }
    }
  }
  list.appendChild(item);
}

// Read every kept report's state and show the list.
export async function refreshMine() {
  const run = ++refreshing;
  const kept = myTips();
  if (!kept.length) {
    $("yz-mine-list").textContent = "";
    mineStatus("还没有上报。上报隐患后，可以在这里看处理进度。");
    return;
  }
  mineStatus("正在更新…");
  const states = await Promise.all(kept.map((t) => readTip(t.tip_id)));
  if (run !== refreshing) return;
  const list = $("yz-mine-list");
  list.textContent = "";
  kept.forEach((mine, i) => render(mine, states[i], list));
  const failed = states.filter((s) => s === null).length;
  if (failed) mineStatus(failed + " 条上报的状态没能更新（网络不可用），稍后刷新。", "warn");
  else mineStatus("共 " + kept.length + " 条上报，按时间从新到旧。");
}

// A report was stored: show it at once when the list is on screen.
export function mineChanged() {
  if (activeTab() === "mine") refreshMine();
}

export function initMine() {
  onOpenTab("mine", refreshMine);
  $("yz-mine-refresh").addEventListener("click", refreshMine);
}
