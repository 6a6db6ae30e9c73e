/* Hazard reports waiting to be sent, and the ones sent. Each is saved on the phone (localStorage,
 * or memory where storage is refused) before it is sent, and stays until the server answers for
 * good: stored (201) or refused as invalid (a 4xx other than 408 and 429). Every try sends the
 * same Idempotency-Key, so a report is stored once however often it is sent. An answer with
 * Retry-After (429 when a phone sends too many) holds the report back until then, across page
 * loads too. A stored report's tip id and receipt (the secret that lets this phone answer
 * 问题解决了吗) are kept for 我的上报, whenever it was sent. */

const QUEUE_KEY = "yizhan.pendingTips";
const REPORTER_KEY = "yizhan.reporterId";
const MINE_KEY = "yizhan.myTips";
const MINE_MAX = 50; // the newest reports kept in 我的上报

let memoryQueue = [];
let memoryReporter = null;
let memoryMine = [];
const inFlight = new Set();

function storageGet(key) {
  try {
    return window.localStorage.getItem(key);
  } catch (e) {
    return null;
  }
}

function storageSet(key, value) {
  try {
    window.localStorage.setItem(key, value);
    return true;
  } catch (e) {
    return false;
  }
}

function randomHex(bytes) {
  const a = new Uint8Array(bytes);
  window.crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function newKey() {
  if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
  return randomHex(16);
}

// The phone's pseudonymous reporter id, made once.
export function reporterId() {
  let id = storageGet(REPORTER_KEY) || memoryReporter;
  if (!id) {
    id = "r-" + randomHex(12);
    if (!storageSet(REPORTER_KEY, id)) memoryReporter = id;
  }
  return id;
}

export function loadQueue() {
  const raw = storageGet(QUEUE_KEY);
  if (raw === null) return memoryQueue.slice();
  try {
    const q = JSON.parse(raw);
    return Array.isArray(q) ? q : [];
  } catch (e) {
    return [];
  }
}

function saveQueue(q) {
  if (!storageSet(QUEUE_KEY, JSON.stringify(q))) memoryQueue = q.slice();
}

export function enqueue(item) {
  const q = loadQueue();
  q.push(item);
  saveQueue(q);
}

function dequeue(key) {
  saveQueue(loadQueue().filter((item) => item.key !== key));
}

function holdUntil(key, time) {
  saveQueue(loadQueue().map((item) => (item.key === key ? { ...item, not_before: time } : item)));
}

// The reports this phone sent, newest first: {tip_id, receipt, category_name, description,
// reported_at, answered}; ``answered`` is the answer given to 问题解决了吗 while it is closed.
export function myTips() {
  const raw = storageGet(MINE_KEY);
  if (raw === null) return memoryMine.slice();
  try {
    const list = JSON.parse(raw);
    return Array.isArray(list) ? list : [];
  } catch (e) {
    return [];
  }
}

function saveMine(list) {
  const kept = list.slice(0, MINE_MAX);
  if (!storageSet(MINE_KEY, JSON.stringify(kept))) memoryMine = kept;
}

// Keep a stored report (the 201 answer) with its receipt; a replayed answer changes nothing.
export function rememberTip(tip) {
  if (!tip || !tip.tip_id || !tip.receipt) return;
  const list = myTips();
  if (list.some((t) => t.tip_id === tip.tip_id)) return;
  list.unshift({
    tip_id: tip.tip_id,
    receipt: tip.receipt,
    category_name: tip.category_name || tip.category || "",
    description: tip.description || "",
    reported_at: tip.reported_at || "",
    answered: null,
  });
  saveMine(list);
}

export function updateMine(tipId, changes) {
  saveMine(myTips().map((t) => (t.tip_id === tipId ? { ...t, ...changes } : t)));
}

// May this report be sent at ``now`` (ms), or is it held back by a Retry-After?
export function isDue(item, now) {
  return !(item.not_before > now);
}

// Retry-After in milliseconds: seconds or an HTTP date (0 when absent or unreadable).
function retryAfterMs(res) {
  const value = (res.headers.get("Retry-After") || "").trim();
  if (!value) return 0;
  const at = /^\d+$/.test(value) ? Date.now() + 1000 * Number(value) : Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 0;
}

// Send one queued report. Resolves to {outcome, status, data, waitMs}: outcome "sent" (stored,
// now off the queue), "refused" (off the queue), "kept" (still queued; waitMs from Retry-After)
// or "busy" (this report is being sent already).
export async function send(item) {
  if (inFlight.has(item.key)) return { outcome: "busy", status: 0, data: {}, waitMs: 0 };
  inFlight.add(item.key);
  let res = null;
  let data = {};
  try {
    res = await fetch("/api/tips", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": item.key },
      body: JSON.stringify(item.body),
    });
    data = await res.json().catch(() => ({}));
  } catch (e) {
    res = null; // no answer: offline, or the connection dropped
  } finally {
    inFlight.delete(item.key);
  }
  const status = res ? res.status : 0;
  if (res && res.ok) {
    rememberTip(data); // before it leaves the queue: a reload in between loses nothing
    dequeue(item.key);
    return { outcome: "sent", status, data, waitMs: 0 };
  }
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    dequeue(item.key);
    return { outcome: "refused", status, data, waitMs: 0 };
  }
  const waitMs = res ? retryAfterMs(res) : 0;
  if (waitMs > 0) holdUntil(item.key, Date.now() + waitMs);
  return { outcome: "kept", status, data, waitMs };
}
