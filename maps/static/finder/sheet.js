/* The bottom sheet: four tabs (附近驿站, 筛选, 上报隐患, 我的上报) over the map, open or
 * collapsed. */

import { $ } from "./dom.js";

let active = "near";
const listeners = {}; // tab name -> functions called when it is opened

// Call ``fn`` whenever the tab ``name`` is opened.
export function onOpenTab(name, fn) {
  (listeners[name] = listeners[name] || []).push(fn);
}

export function activeTab() {
  return active;
}

export function setSheet(open) {
  $("yz-sheet").setAttribute("data-open", open ? "true" : "false");
  $("yz-toggle").textContent = open ? "▾" : "▴";
}

export function openTab(name) {
  active = name;
  for (const tab of document.querySelectorAll(".yz-tab")) {
    tab.setAttribute("aria-selected", tab.getAttribute("data-tab") === name);
  }
  for (const pane of document.querySelectorAll(".yz-pane")) {
    pane.hidden = pane.getAttribute("data-pane") !== name;
  }
  setSheet(true);
  for (const fn of listeners[name] || []) fn();
}

function isOpen() {
  return $("yz-sheet").getAttribute("data-open") === "true";
}

export function initSheet() {
  for (const tab of document.querySelectorAll(".yz-tab")) {
    tab.addEventListener("click", (ev) => {
      const name = ev.currentTarget.getAttribute("data-tab");
      if (isOpen() && name === active) setSheet(false);
      else openTab(name);
    });
  }
  $("yz-toggle").addEventListener("click", () => {
    if (isOpen()) setSheet(false);
    else openTab(active);
  });
  openTab(active);
  setSheet(false);
}
