/* The case panel: a case's details and history, and a button for each action the API says this
 * account may take now (the case's "actions"), each with the inputs it needs. After an action
 * the panel shows the case as the API answered, and the queue, map and rates load again. A 409
 * (someone moved the case meanwhile) shows the message and loads the case again; a 422 marks
 * the field it names. */

import { api } from "./api.js";
import { markCase } from "./casemap.js";
import { $, clear, el, fullTime, lateBy, option, shortTime, stateBadge } from "./dom.js";
import { markRow } from "./queue.js";

const NOTE_LABELS = {
  reject: "不予立案原因",
  return: "退单原因",
  handle: "处置情况",
  rework: "返工原因",
  suspend: "缓办原因",
};
let current = null; // the case shown
let seq = 0;

function setState(state) {
  $("yzd-case").dataset.state = state;
}

function message(text, kind) {
  const msg = $("yzd-c-msg");
  msg.textContent = text || "";
  msg.className = "yzd-msg" + (kind ? " yzd-msg-" + kind : "");
}

export function initPanel(app) {
  $("yzd-c-close").addEventListener("click", () => closeCase(app));
}

export function closeCase(app) {
  seq += 1;
  current = null;
  app.selected = null;
  $("yzd-case").hidden = true;
  clear($("yzd-c-body"));
  message("");
  setState("closed");
  markRow(null);
  markCase(app, null);
}

export async function openCase(app, tipId, { keepMessage = false } = {}) {
  const session = app.session;
  const mine = ++seq;
  app.selected = tipId;
  $("yzd-case").hidden = false;
  markRow(tipId);
  markCase(app, tipId, { pan: true });
  $("yzd-c-title").textContent = "案件 " + tipId;
  if (!keepMessage) message("");
  setState("loading");
  let c;
  try {
    c = await api("/api/cases/" + encodeURIComponent(tipId));
  } catch (e) {
    if (session !== app.session || mine !== seq || e.status === 401) return;
    delete clear($("yzd-c-body")).dataset.tip;
    message((e.status === 403 ? "无权查看：" : "加载失败：") + e.detail, "error");
    setState("error");
    return;
  }
  if (session !== app.session || mine !== seq) return;
  render(app, c);
}

function render(app, c) {
  current = c;
  const w = app.words;
  $("yzd-c-title").textContent = "案件 " + c.tip_id;
  const body = clear($("yzd-c-body"));
  body.dataset.tip = c.tip_id;

  const status = el("div", "yzd-c-status");
  status.appendChild(stateBadge(w, c.state));
  if (c.overdue) {
    status.appendChild(el("span", "yzd-flag yzd-flag-late", "超时 " + lateBy(c.due_at)));
  }
  if (c.urgency === "urgent") {
    status.appendChild(el("span", "yzd-flag yzd-urgent", w.urgencies.urgent));
  }
  body.appendChild(status);

  const dl = el("dl", "yzd-facts");
  const fact = (label, value, key) => {
    const dt = el("dt", "", label);
    const dd = el("dd", "", value === null || value === undefined || value === "" ? "—" : value);
    if (key) dd.dataset.fact = key;
    dl.append(dt, dd);
  };
  fact("类别", app.categoryName(c.category), "category");
  fact("描述", c.description, "description");
  fact("上报时间", fullTime(c.reported_at), "reported_at");
  fact("街道", app.subdistrictName(c.subdistrict_code), "subdistrict");
  fact("网格", c.grid_code, "grid_code");
  fact("道路", c.street_name, "street_name");
  fact("紧急程度", w.urgencies[c.urgency] || c.urgency, "urgency");
  fact(
    "当前环节",
    c.step ? (w.steps[c.step] || c.step) + "，期限 " + fullTime(c.due_at) : "无（不计时）",
    "step",
  );
  const unit = c.unit_id ? app.unitName(c.unit_id) + "（" + c.unit_id + "）" : "未指派";
  fact("处置单位", unit, "unit");
  if (c.duplicate_of) fact("重复于", c.duplicate_of, "duplicate_of");
  const counts = (c.return_count || 0) + " 次 / " + (c.rework_count || 0) + " 次";
  fact("退单 / 返工", counts, "counts");
  body.appendChild(dl);

  body.appendChild(el("h3", "", "可执行操作"));
  const actions = el("div", "yzd-actions");
  actions.id = "yzd-c-actions";
  const forms = el("div", "yzd-act-forms");
  if (!c.actions || !c.actions.length) {
    actions.appendChild(el("p", "yzd-hint", "本账号现在对此案件没有可执行的操作。"));
  }
  for (const action of c.actions || []) {
    const button = el("button", "yzd-btn yzd-act", w.actions[action] || action);
    button.type = "button";
    button.dataset.action = action;
    button.addEventListener("click", () => {
      for (const b of actions.querySelectorAll(".yzd-act")) {
        b.setAttribute("aria-pressed", String(b === button));
      }
      clear(forms).appendChild(actionForm(app, c, action));
      const first = forms.querySelector("textarea, select, input");
      if (first) first.focus();
    });
    actions.appendChild(button);
  }
  body.appendChild(actions);
  body.appendChild(forms);

  body.appendChild(el("h3", "", "处置记录"));
  body.appendChild(history(app, c.history || []));
  setState("ready");
}

function field(label, input, name) {
  const wrap = el("label", "yzd-field");
  wrap.appendChild(el("span", "", label));
  input.name = name;
  wrap.appendChild(input);
  return wrap;
}

function actionForm(app, c, action) {
  const w = app.words;
  const form = el("form", "yzd-act-form");
  form.dataset.action = action;
  form.noValidate = true;
  const takes = w.fields[action] || [];
  const needsNote = w.needs_note.includes(action);

  if (takes.includes("unit_id")) {
    const select = el("select");
    if (!c.unit_id) select.appendChild(option("", "请选择处置单位", true));
    for (const u of app.units) {
      const serves =
        (u.categories.includes("*") || u.categories.includes(c.category)) &&
        (u.subdistricts.includes("*") || u.subdistricts.includes(c.subdistrict_code));
      const mine = u.unit_id === c.unit_id;
      const note = mine ? " · 建议" : serves ? "" : " · 非本类别或街道";
      select.appendChild(option(u.unit_id, u.name + "（" + u.unit_id + "）" + note, mine));
    }
    form.appendChild(field("处置单位", select, "unit_id"));
  }
  if (takes.includes("urgency")) {
    const select = el("select");
    for (const [code, name] of Object.entries(w.urgencies)) {
      select.appendChild(option(code, name, code === c.urgency));
    }
    form.appendChild(field("紧急程度", select, "urgency"));
  }
  if (takes.includes("duplicate_of")) {
    const input = el("input");
    input.type = "text";
    input.placeholder = "如与另一在办案件重复，填其编号";
    form.appendChild(field("重复案件编号（选填）", input, "duplicate_of"));
  }
  const note = el("textarea");
  note.rows = 2;
  const noteLabel = (NOTE_LABELS[action] || "内部备注") + (needsNote ? "（必填）" : "（选填）");
  form.appendChild(field(noteLabel, note, "note"));
  const publicNote = el("textarea");
  publicNote.rows = 2;
  form.appendChild(field("公开答复（上报人和公众可见，选填）", publicNote, "public_note"));

  const row = el("div", "yzd-form-buttons");
  const submit = el("button", "yzd-btn yzd-primary", "确认" + (w.actions[action] || action));
  submit.type = "submit";
  const cancel = el("button", "yzd-btn", "取消");
  cancel.type = "button";
  cancel.addEventListener("click", () => {
    form.remove();
    for (const b of document.querySelectorAll("#yzd-c-actions .yzd-act")) {
      b.setAttribute("aria-pressed", "false");
    }
  });
  row.append(submit, cancel);
  form.appendChild(row);

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    send(app, c, action, form, { needsNote, noteLabel, takes });
  });
  return form;
}

async function send(app, c, action, form, { needsNote, noteLabel, takes }) {
  const w = app.words;
  const value = (name) => form.elements[name].value.trim();
  for (const node of form.querySelectorAll(".yzd-invalid")) node.classList.remove("yzd-invalid");
  const body = { action, note: value("note"), public_note: value("public_note") };
  if (takes.includes("unit_id")) body.unit_id = value("unit_id") || null;
  if (takes.includes("urgency")) body.urgency = value("urgency");
  if (takes.includes("duplicate_of")) body.duplicate_of = value("duplicate_of") || null;
  if (needsNote && !body.note) {
    form.elements.note.classList.add("yzd-invalid");
    form.elements.note.focus();
    message("请填写" + noteLabel.replace("（必填）", "") + "。", "error");
    return;
  }
  if (takes.includes("unit_id") && !body.unit_id) {
    form.elements.unit_id.classList.add("yzd-invalid");
    message("请选择处置单位。", "error");
    return;
  }
  const session = app.session;
  const mine = ++seq;
  for (const b of form.querySelectorAll("button")) b.disabled = true;
  message("正在提交…");
  setState("saving");
  let updated;
  try {
    updated = await api("/api/cases/" + encodeURIComponent(c.tip_id) + "/actions", {
      method: "POST",
      body,
    });
  } catch (e) {
    if (session !== app.session || mine !== seq || e.status === 401) return;
    for (const b of form.querySelectorAll("button")) b.disabled = false;
    setState("ready");
    if (e.status === 409) {
      message("案件已被他人办理或状态已变化，已重新加载：" + e.detail, "error");
      await Promise.all([openCase(app, c.tip_id, { keepMessage: true }), app.refresh()]);
      return;
    }
    if (e.status === 422 && e.field && form.elements[e.field]) {
      form.elements[e.field].classList.add("yzd-invalid");
      form.elements[e.field].focus();
    }
    const prefixes = { 403: "无权执行：", 404: "案件不存在：", 422: "请检查输入：" };
    message((prefixes[e.status] || "提交失败：") + e.detail, "error");
    return;
  }
  if (session !== app.session || mine !== seq) return;
  render(app, updated);
  message("已完成：" + (w.actions[action] || action), "ok");
  await app.refresh();
}

function history(app, rows) {
  const w = app.words;
  if (!rows.length) return el("p", "yzd-hint", "尚无记录。");
  const table = el("table", "yzd-history");
  table.id = "yzd-c-history";
  const head = el("tr");
  for (const label of ["时间", "操作", "状态", "角色", "单位", "说明"]) {
    head.appendChild(el("th", "", label));
  }
  table.appendChild(el("thead")).appendChild(head);
  const tbody = el("tbody");
  for (const h of rows) {
    const tr = el("tr");
    tr.dataset.action = h.action;
    const when = el("td", "yzd-nowrap", shortTime(h.at));
    when.title = fullTime(h.at);
    tr.appendChild(when);
    tr.appendChild(el("td", "", w.actions[h.action] || h.action));
    const from = w.states[h.from_state] || h.from_state;
    tr.appendChild(el("td", "yzd-nowrap", from + " → " + (w.states[h.to_state] || h.to_state)));
    tr.appendChild(el("td", "", w.roles[h.role] || h.role));
    tr.appendChild(el("td", "", h.unit_id ? app.unitName(h.unit_id) : "—"));
    const notes = el("td", "yzd-notes");
    if (h.note) notes.appendChild(el("div", "yzd-note", h.note));
    if (h.public_note) notes.appendChild(el("div", "yzd-public", "公开：" + h.public_note));
    if (!h.note && !h.public_note) notes.textContent = "—";
    tr.appendChild(notes);
    tbody.appendChild(tr);
  }
  table.appendChild(tbody);
  return table;
}

export function shownCase() {
  return current;
}
