// The supervisors' console: login, a live alarm wall (SSE), the case board and detail with workflow
// actions, site profiles, statistics, an SVG map, multi-camera view, big-screen mode. No build step.
import { API, esc, fmtTime, makeClient } from "/common/api.js";
import { getLang, setLang, t } from "/common/i18n.js";
import { actionsFor, doAction, loadCase } from "/console/cases.js";
import { renderLive, renderMap, renderSites, renderStats } from "/console/views.js";

const api = makeClient("bk.console.token");
const $ = (sel) => document.querySelector(sel);
const state = { me: null, cases: new Map(), source: null };
window.bk = { api, state };  // handy in the browser console and in tests

function translate() {
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  document.querySelectorAll("[data-ph]").forEach((el) => { el.placeholder = t(el.dataset.ph); });
  $("#lang").textContent = getLang() === "zh" ? "EN" : "中文";
}

export function toast(msg) {
  const el = $("#toast");
  el.textContent = msg; el.classList.remove("hidden");
  clearTimeout(toast.timer); toast.timer = setTimeout(() => el.classList.add("hidden"), 4000);
}

export function caseCard(c, fresh) {
  const risk = `r${c.risk_class || 3}`;
  return `<div class="card alarm ${risk} ${fresh ? "fresh" : ""}" data-case="${esc(c.case_id)}">
    ${c.snapshot_url ? `<img class="snap" src="${esc(c.snapshot_url)}" alt="">` : ""}
    <div class="row"><span class="badge ${risk}">${"I".repeat(c.risk_class || 3)}</span>
      <b>${esc(t(c.case_type))}</b><span class="badge ${c.open ? "" : "closed"}">${esc(t(c.status))}</span></div>
    <div class="muted">${esc(c.site_id)} · ${fmtTime(c.updated_at)}</div>
    <a href="#case/${encodeURIComponent(c.case_id)}">${t("Actions")} →</a></div>`;
}

async function showWall() {
  $("#view").innerHTML = `<div id="wall" class="wall"><p class="muted">${t("Loading")}…</p></div>`;
  const rows = await api.get(`${API.public}/console/cases?open_only=true&limit=60`);
  rows.forEach((c) => state.cases.set(c.case_id, c));
  $("#wall").innerHTML = rows.length ? rows.map((c) => caseCard(c)).join("") : `<p class="muted" id="no-cases">${t("No cases")}</p>`;
}

function onCaseEvent(c) {
  c.open = !["closed", "false_alarm", "archived"].includes(c.status);
  const prev = state.cases.get(c.case_id);
  state.cases.set(c.case_id, { ...prev, ...c });
  const wall = $("#wall");
  if (wall) {
    wall.querySelector(`[data-case="${CSS.escape(c.case_id)}"]`)?.remove();
    $("#no-cases")?.remove();
    if (c.open) wall.insertAdjacentHTML("afterbegin", caseCard(c, true));
  }
  if (c.is_new) toast(`${t("New alarm")}: ${t(c.case_type)} · ${c.site_id}`);
  if (location.hash.startsWith("#board")) showBoard();
  if (location.hash === `#case/${c.case_id}`) showCase(c.case_id);
}

function connectAlarms() {
  state.source?.close();
  const src = new EventSource(`${API.public}/console/alarms/stream?access_token=${encodeURIComponent(api.token)}`);
  state.source = src;
  src.addEventListener("hello", () => { $("#sse-state").textContent = t("Connected"); $("#sse-state").dataset.state = "open"; });
  src.addEventListener("case", (e) => onCaseEvent(JSON.parse(e.data)));
  src.onerror = () => { $("#sse-state").textContent = t("Reconnecting"); $("#sse-state").dataset.state = "retry"; };
}

async function showBoard() {
  const status = new URLSearchParams(location.hash.split("?")[1] || "").get("status") || "";
  const rows = await api.get(`${API.public}/console/cases?limit=200${status ? "&status=" + status : ""}`);
  const opts = ["", "new", "dispatched", "acknowledged", "rectifying", "submitted", "recheck", "closed"]
    .map((s) => `<option value="${s}" ${s === status ? "selected" : ""}>${s ? t(s) : t("All")}</option>`).join("");
  $("#view").innerHTML = `<div class="row"><label>${t("Status")} <select id="status-filter">${opts}</select></label></div>
    <table id="board"><thead><tr><th></th><th>${t("Type")}</th><th>${t("Risk")}</th><th>${t("Site")}</th>
    <th>${t("Status")}</th><th>${t("Updated")}</th></tr></thead><tbody>${rows.map((c) => `
    <tr data-case="${esc(c.case_id)}"><td>${c.snapshot_url ? `<img src="${esc(c.snapshot_url)}" alt="">` : ""}</td>
    <td><a href="#case/${encodeURIComponent(c.case_id)}">${esc(t(c.case_type))}</a></td>
    <td><span class="badge r${c.risk_class}">${"I".repeat(c.risk_class || 3)}</span></td><td>${esc(c.site_id)}</td>
    <td><span class="badge ${c.open ? "" : "closed"}">${esc(t(c.status))}</span></td><td>${fmtTime(c.updated_at)}</td></tr>`).join("")}
    </tbody></table>`;
  $("#status-filter").onchange = (e) => { location.hash = "#board" + (e.target.value ? "?status=" + e.target.value : ""); };
}

async function showCase(id) {
  const { c, timeline } = await loadCase(api, id);
  const acts = actionsFor(c, state.me);
  $("#view").innerHTML = `<a href="#board">← ${t("Back")}</a>
    <div class="card" id="case-detail" data-status="${esc(c.status)}">
      <div class="row"><h3>${esc(t(c.case_type))}</h3><span class="badge r${c.risk_class}">${"I".repeat(c.risk_class || 3)}</span>
        <span class="badge ${c.open ? "" : "closed"}" id="case-status">${esc(t(c.status))}</span></div>
      <p class="muted">${esc(c.site_id)} · ${esc(c.camera_id || "")} ${esc(c.zone || "")} · ${fmtTime(c.created_at)}</p>
      ${c.snapshot_url ? `<img class="snap" style="max-width:640px" src="${esc(c.snapshot_url)}" alt="">` : ""}
      <h4>${t("Actions")}</h4>
      <div class="row" id="actions">${acts.map((a) => `<button data-action="${a}" class="${["reject", "false_alarm"].includes(a) ? "danger" : ""}">${t(a)}</button>`).join("")}</div>
      <div class="row"><input id="note" data-ph="Note" placeholder="${t("Note")}" style="flex:1">
        ${acts.includes("submit") ? `<label>${t("Photos")} <input id="photos" type="file" accept="image/*" multiple></label>` : ""}</div>
      <p id="action-error" class="error"></p>
      <h4>${t("Timeline")}</h4>
      <ol id="timeline">${timeline.map((e) => `<li>${fmtTime(e.at)} · ${esc(t(e.action))} → ${esc(t(e.status || e.to_status))}
        ${e.actor_id ? `<span class="muted">(${esc(e.actor_id)})</span>` : ""}${e.note ? ` — ${esc(e.note)}` : ""}</li>`).join("")}</ol>
    </div>`;
  document.querySelectorAll("#actions button").forEach((b) => b.onclick = async () => {
    b.disabled = true;
    try {
      await doAction(api, id, b.dataset.action, $("#note").value, $("#photos")?.files);
      toast(`${t(b.dataset.action)} ✓`);
      setTimeout(() => showCase(id), 300);
    } catch (err) { $("#action-error").textContent = err.message; b.disabled = false; }
  });
}

const routes = { wall: showWall, board: showBoard, case: showCase, map: () => renderMap(api), stats: () => renderStats(api),
  live: () => renderLive(api), sites: (id) => renderSites(api, id, state.me) };

async function route() {
  const [name, arg] = (location.hash.slice(1).split("?")[0] || "wall").split("/");
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === "#" + name));
  try { await (routes[name] || showWall)(arg && decodeURIComponent(arg)); }
  catch (err) {
    if (err.status === 401) return logout();
    $("#view").innerHTML = `<p class="error">${t("Error")}: ${esc(err.message)}</p>`;
  }
}

async function enter() {
  try { state.me = await api.get(`${API.cases}/me`); }
  catch (err) { if (err.status === 401 || err.status === 403) return logout(); state.me = {}; }
  $("#login").classList.add("hidden"); $("#shell").classList.remove("hidden");
  $("#who").textContent = state.me.name || state.me.id || "";
  connectAlarms();
  route();
}

function logout() {
  state.source?.close(); api.token = "";
  $("#shell").classList.add("hidden"); $("#login").classList.remove("hidden");
}

$("#login-form").onsubmit = async (e) => {
  e.preventDefault();
  $("#login-error").textContent = "";
  try {
    const out = await api.post(`${API.cases}/auth/login`, { username: $("#username").value, password: $("#password").value });
    api.token = out.access_token;
    enter();
  } catch (err) { $("#login-error").textContent = err.message; }
};
$("#logout").onclick = logout;
$("#lang").onclick = () => { setLang(getLang() === "zh" ? "en" : "zh"); translate(); route(); };
$("#bigscreen").onclick = () => {
  const big = document.body.classList.toggle("big");
  $("#bigscreen").textContent = t(big ? "Exit big screen" : "Big screen");
  if (big) { location.hash = "#map"; document.documentElement.requestFullscreen?.().catch(() => {}); }
};
window.addEventListener("hashchange", route);
translate();
if (api.token) enter(); else logout();
