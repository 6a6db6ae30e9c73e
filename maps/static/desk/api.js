/* The staff API with the signed-in token. The token lives in sessionStorage only (this tab's
 * browser session), goes out in the Authorization header only, and is dropped on a 401. */

const KEY = "yizhan.deskToken";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }

  // the field a 422 names ("note: 'reject' needs a reason" -> "note")
  get field() {
    const m = /^([a-z_]+):/.exec(this.detail || "");
    return m ? m[1] : null;
  }
}

let unauthorized = () => {};

export function onUnauthorized(callback) {
  unauthorized = callback;
}

export function token() {
  try {
    return sessionStorage.getItem(KEY);
  } catch (e) {
    return null;
  }
}

export function keepToken(value) {
  sessionStorage.setItem(KEY, value);
}

export function dropToken() {
  try {
    sessionStorage.removeItem(KEY);
  } catch (e) {
    /* storage refused: nothing was kept */
  }
}

// A token is printable ASCII without spaces (yz_ and URL-safe base64): anything else could not
// even go into a header.
export function looksLikeToken(value) {
  return /^[\x21-\x7e]{8,512}$/.test(value);
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
  }
  const text = q.toString();
  return text ? "?" + text : "";
}

export async function api(path, { method = "GET", params, body } = {}) {
  const used = token() || "";
  const headers = { Accept: "application/json", Authorization: "Bearer " + used };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path + query(params), init);
  } catch (e) {
    throw new ApiError(0, "网络错误，无法连接服务器");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (!response.ok) {
    const detail = (data && typeof data.detail === "string" && data.detail) || response.statusText;
    const error = new ApiError(response.status, detail || String(response.status));
    // an answer to a token signed out meanwhile says nothing about the one in use now
    if (response.status === 401 && used === (token() || "")) unauthorized(error);
    throw error;
  }
  return data;
}
