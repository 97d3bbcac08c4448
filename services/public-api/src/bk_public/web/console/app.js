// The supervisors' console: login, a live alarm wall (SSE), the case board and detail with workflow
// actions, site profiles, statistics, an SVG map, multi-camera view, big-screen mode, and whether the AI
// is analysing at all (aistatus.js). No build step.
import { API, esc, fmtTime, makeClient } from "/common/api.js";
import { getLang, setLang, t } from "/common/i18n.js";
import { paintAi, startAiStatus, stopAiStatus } from "/console/aistatus.js";
import { renderAdmin } from "/console/admin.js";
import { actionsFor, doAction, loadCase } from "/console/cases.js";
import { paintUnread, renderInbox } from "/console/inbox.js";
import { renderLabels } from "/console/labels.js";
import { renderRecall } from "/console/recall.js";
import { renderLive, renderMap, renderSites, renderStats, stopLive } from "/console/views.js";

const api = makeClient("bk.console.token");
const $ = (sel) => document.querySelector(sel);
const state = { me: null, cases: new Map(), source: null, sites: new Map() };
const siteName = (id) => state.sites.get(id)?.name || id;
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
    <div class="muted">${esc(siteName(c.site_id))} · ${fmtTime(c.updated_at)}</div>
    <a href="#case/${encodeURIComponent(c.case_id)}">${t("Actions")} →</a></div>`;
}

async function showWall() {
  $("#view").innerHTML = `<div class="row wall-head"><h2>${t("Alarm wall")}</h2><span class="muted">${t("Open cases")} ·
    ${t("pushed live")}</span></div><div class="ai-sites" data-ai-sites=""></div>
    <div id="wall" class="wall"><p class="muted">${t("Loading")}…</p></div>`;
  const rows = await api.get(`${API.public}/console/cases?open_only=true&limit=60`);
  rows.forEach((c) => state.cases.set(c.case_id, c));
  // An empty wall says whether the AI is analysing: no alarms is not "all clear" while it is not.
  $("#wall").innerHTML = rows.length ? rows.map((c) => caseCard(c)).join("") : `<p class="muted" id="no-cases" data-ai-empty>${t("No cases")}</p>`;
  paintAi();
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
  if (c.is_new) { toast(`${t("New alarm")}: ${t(c.case_type)} · ${siteName(c.site_id)}`); setTimeout(() => paintUnread(api), 2000); }
  if (location.hash.startsWith("#board")) showBoard();
  if (location.hash === `#case/${encodeURIComponent(c.case_id)}`) {
    // Re-render only when nothing typed or chosen would be lost; otherwise just say it changed.
    const busy = $("#note")?.value || $("#photos")?.files?.length;
    if (busy) toast(`${t(c.status)}`);
    else showCase(c.case_id);
  }
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
    <td><span class="badge r${c.risk_class}">${"I".repeat(c.risk_class || 3)}</span></td><td>${esc(siteName(c.site_id))}</td>
    <td><span class="badge ${c.open ? "" : "closed"}">${esc(t(c.status))}</span></td><td>${fmtTime(c.updated_at)}</td></tr>`).join("")}
    </tbody></table>`;
  $("#status-filter").onchange = (e) => { location.hash = "#board" + (e.target.value ? "?status=" + e.target.value : ""); };
}

let caseSeq = 0;  // only the newest render of a case detail may touch the page

async function showCase(id, force = false) {
  const seq = ++caseSeq;
  const { c, timeline } = await loadCase(api, id);
  if (seq !== caseSeq) return;
  const shown = $("#case-detail");
  // Pushed changes re-render only what changed: a note being typed or a photo chosen stays put.
  if (!force && shown && shown.dataset.case === c.case_id && shown.dataset.status === c.status) return;
  const acts = actionsFor(c, state.me);
  const rects = (c.rectifications || []).filter((r) => (r.photo_urls || []).length || r.note);
  $("#view").innerHTML = `<a href="#board">← ${t("Back")}</a>
    <div class="card case-detail" id="case-detail" data-status="${esc(c.status)}" data-case="${esc(c.case_id)}">
      <div class="row"><h3>${esc(t(c.case_type))}</h3><span class="badge r${c.risk_class}">${"I".repeat(c.risk_class || 3)}</span>
        <span class="badge ${c.open ? "" : "closed"}" id="case-status">${esc(t(c.status))}</span></div>
      <p class="muted">${esc(siteName(c.site_id))} · ${esc(t(c.source || ""))} ${c.camera_id ? `· ${esc(c.camera_id)}` : ""}
        · ${fmtTime(c.created_at)}${c.deadline ? ` · ${t("Deadline")} ${fmtTime(c.deadline)}` : ""}</p>
      ${c.description ? `<p>${esc(c.description)}</p>` : ""}
      <div class="evidence">
        ${c.snapshot_url ? `<figure><img class="snap" id="case-snapshot" src="${esc(c.snapshot_url)}" alt=""><figcaption>${t("Snapshot")}</figcaption></figure>` : ""}
        ${rects.map((r) => (r.photo_urls || []).map((u) => `<figure><img class="snap rect-photo" src="${esc(u)}" alt="">
          <figcaption>${t("Rectification")} #${esc(r.attempt)}${r.note ? ` · ${esc(r.note)}` : ""}</figcaption></figure>`).join("")).join("")}
      </div>
      <h4>${t("Actions")}</h4>
      <div class="row" id="actions">${acts.map((a) => `<button data-action="${a}" class="${["reject", "false_alarm"].includes(a) ? "danger" : ""}">${t(a)}</button>`).join("") || `<span class="muted">${t("No actions")}</span>`}</div>
      <div class="row action-inputs ${acts.length ? "" : "hidden"}"><input id="note" data-ph="Note" placeholder="${t("Note")}">
        ${acts.includes("submit") ? `<label class="file">＋ ${t("Rectify with photo")}<input id="photos" type="file" accept="image/*" multiple></label><span id="photo-names" class="muted"></span>` : ""}
        ${acts.includes("schedule_recheck") ? `<label>${t("Recheck at")} <input id="recheck-at" type="datetime-local"></label>` : ""}</div>
      <p id="action-error" class="error"></p>
      <div id="labels-host"></div>
      <h4>${t("Timeline")}</h4>
      <ol id="timeline">${timeline.map((e) => `<li>${fmtTime(e.at)} · ${esc(t(e.action))}${(e.status || e.to_status) ? ` → ${esc(t(e.status || e.to_status))}` : ""}
        ${e.actor_id ? `<span class="muted">(${esc(e.actor_id)})</span>` : ""}${e.note ? ` — ${esc(e.note)}` : ""}</li>`).join("")}</ol>
    </div>`;
  // Supervisors correct what the capture shows (training labels); the case-manager decides who may.
  if (["platform_admin", "supervisor"].includes(state.me?.role) && c.source === "detection") renderLabels(api, c.case_id, $("#labels-host"));
  if ($("#photos")) $("#photos").onchange = () => { $("#photo-names").textContent = [...$("#photos").files].map((f) => f.name).join("、"); };
  document.querySelectorAll("#actions button").forEach((b) => b.onclick = async () => {
    document.querySelectorAll("#actions button").forEach((x) => { x.disabled = true; });
    try {
      await doAction(api, id, b.dataset.action, $("#note").value, $("#photos")?.files, $("#recheck-at")?.value);
      toast(`${t(b.dataset.action)} ✓`);
      await showCase(id);
    } catch (err) {
      $("#action-error").textContent = err.message;
      document.querySelectorAll("#actions button").forEach((x) => { x.disabled = false; });
    }
  });
}

const routes = { wall: showWall, board: showBoard, case: (id) => showCase(id, true), map: () => renderMap(api), stats: () => renderStats(api),
  live: (id) => renderLive(api, id), sites: (id) => renderSites(api, id, state.me),
  admin: (tab) => renderAdmin(api, tab, state.me), inbox: () => renderInbox(api), recall: (id) => renderRecall(api, id) };

async function route() {
  const [name, arg] = (location.hash.slice(1).split("?")[0] || "wall").split("/");
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === "#" + name));
  stopLive();  // live players run only while the live view shows
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
  $("#admin-link").classList.toggle("hidden", !["platform_admin", "supervisor"].includes(state.me.role));
  $("#recall-link").classList.toggle("hidden", !["platform_admin", "supervisor"].includes(state.me.role));
  const sites = await api.get(`${API.cases}/sites`).catch(() => []);
  state.sites = new Map(sites.map((x) => [x.id, x]));
  connectAlarms();
  startAiStatus(api, { siteName });
  paintUnread(api);
  route();
}

function logout() {
  state.source?.close(); stopLive(); stopAiStatus(); api.token = "";
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
$("#lang").onclick = () => { setLang(getLang() === "zh" ? "en" : "zh"); translate(); paintAi(); route(); };
$("#bigscreen").onclick = () => {
  const big = document.body.classList.toggle("big");
  $("#bigscreen").textContent = t(big ? "Exit big screen" : "Big screen");
  if (big) { location.hash = "#map"; document.documentElement.requestFullscreen?.().catch(() => {}); }
};
window.addEventListener("hashchange", route);
translate();
if (api.token) enter(); else logout();
