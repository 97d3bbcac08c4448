// Is the AI analysing? The gateway says so (GET /v1/ai/status for the platform, ai_state on each
// camera of /v1/cameras/status); the console asks every POLL_MS so that an empty alarm wall never
// passes for "all clear" while nothing is analysed. It paints, wherever a page asks for them:
//   #ai-banner             the red platform banner above every page (hidden while the AI runs)
//   #ai-state              the header's chip: AI running / stopped / unknown
//   [data-ai-sites="…"]    a banner per site whose cameras are not analysed ("" = every site)
//   [data-ai-cam="<id>"]   a camera's badge: "AI 未运行 · AI not running" and why
//   [data-ai-empty]        the empty alarm wall's words
// A view renders the empty elements and calls paintAi(); each poll repaints them in place.
import { API, esc } from "/common/api.js";
import { bothLangs, fill, t, tIn } from "/common/i18n.js";

export const POLL_MS = 10_000;
const REQUEST_MS = 8_000;  // a gateway that hangs must not hold the poll: it is then "unavailable"

// The platform's states (the gateway's names) and their words; "running" has none: no banner.
const PLATFORM_REASON = { no_answers: "detectors not answering", no_detectors: "no detector connected",
  idle: "no camera is sending frames" };
// Each camera's ai_state: its words, and whether the camera's frames go unanalysed (red, site banner).
// "elsewhere": another gateway replica runs the camera and only it can tell; "starting" is brief.
const CAMERA_STATE = {
  running: { label: "AI analysing", level: "ok" },
  starting: { label: "AI starting", level: "wait" },
  elsewhere: { label: "run by another gateway", level: "wait" },
  no_answers: { label: "detectors not answering", level: "bad" },
  camera_offline: { label: "camera offline", level: "bad" },
  disabled: { label: "camera disabled", level: "bad" },
  profile_refused: { label: "detection profile refused", level: "bad" },
};

const ai = { api: null, timer: null, seq: 0, polled: false, platform: null, error: "", cameras: new Map(),
  names: new Map(), siteName: (id) => id };

export function startAiStatus(api, { siteName } = {}) {
  stopAiStatus();
  Object.assign(ai, { api, polled: false, platform: null, error: "", siteName: siteName || ai.siteName });
  poll(ai.seq);
}

export function stopAiStatus() {
  ai.seq++;
  clearTimeout(ai.timer);
  ai.polled = false;
  ai.cameras.clear();
  document.getElementById("ai-banner")?.classList.add("hidden");
}

function within(promise, ms) {
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function poll(seq) {
  let platform = null, cams = [], error = "";
  try {
    [platform, cams] = await within(Promise.all([ai.api.get(`${API.gateway}/v1/ai/status`),
      ai.api.get(`${API.gateway}/v1/cameras/status`)]), REQUEST_MS);
  } catch (err) {
    error = err.status ? `HTTP ${err.status}: ${err.message}` : err.message;
  }
  if (seq !== ai.seq) return;
  Object.assign(ai, { polled: true, platform, error });
  ai.cameras = new Map((cams || []).map((c) => [c.camera_id, c]));
  if ([...ai.cameras.keys()].some((id) => !ai.names.has(id))) await loadNames(seq);
  if (seq !== ai.seq) return;
  paintAi();
  ai.timer = setTimeout(() => poll(seq), POLL_MS);
}

// Cameras are named in the gateway's registry; a status carries only the id. Asked again only when
// a camera appears; one the registry does not list keeps its zone (no request on every poll for it).
async function loadNames(seq) {
  const cams = await within(ai.api.get(`${API.gateway}/v1/cameras`), REQUEST_MS).catch(() => null);
  if (seq !== ai.seq || !cams) return;
  cams.forEach((c) => ai.names.set(c.id, c.name || c.zone || c.id));
  ai.cameras.forEach((c, id) => { if (!ai.names.has(id)) ai.names.set(id, c.zone || id); });
}

const platformStopped = () => !!ai.error || ai.platform?.running === false;

function since(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || isNaN(d)) return "";
  const hm = { hour: "2-digit", minute: "2-digit", hour12: false };
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString([], hm)
    : d.toLocaleString([], { month: "numeric", day: "numeric", ...hm });
}

// Cameras not analysed, by site. While the platform banner says the detectors do not answer, every
// camera's "no_answers" is that one fact: the site banners show only what differs per site.
function stoppedBySite() {
  const out = new Map();
  for (const c of ai.cameras.values()) {
    if (CAMERA_STATE[c.ai_state]?.level !== "bad") continue;
    if (c.ai_state === "no_answers" && platformStopped()) continue;
    if (!out.has(c.site_id)) out.set(c.site_id, []);
    out.get(c.site_id).push(c);
  }
  return out;
}

export function paintAi() {
  if (!ai.polled) return;
  paintBanner();
  document.querySelectorAll("[data-ai-sites]").forEach(paintSites);
  document.querySelectorAll("[data-ai-cam]").forEach(paintCamera);
  document.querySelectorAll("[data-ai-empty]").forEach(paintEmptyWall);
}

function paintBanner() {
  const banner = document.getElementById("ai-banner"), chip = document.getElementById("ai-state");
  const stopped = platformStopped();
  const state = ai.error ? "unknown" : (ai.platform?.state || "running");
  if (chip) {
    chip.dataset.state = stopped ? (ai.error ? "unknown" : "stopped") : "running";
    chip.textContent = t(stopped ? (ai.error ? "AI status unknown" : "AI stopped") : "AI running");
  }
  if (!banner) return;
  banner.dataset.state = state;
  banner.classList.toggle("hidden", !stopped);
  if (!stopped) { banner.innerHTML = ""; return; }
  const at = since(ai.platform?.since);
  const headline = bothLangs().map((l) => ai.error
    ? fill(tIn(l, "AI status unavailable: {reason}"), { reason: tIn(l, "gateway not reachable") })
    : fill(tIn(l, at ? "AI detection stopped: {reason} since {since}" : "AI detection stopped: {reason}"),
      { reason: tIn(l, PLATFORM_REASON[state] || state), since: at }));
  const advice = bothLangs().map((l) => tIn(l, "alarms may be missed, contact operations"));
  banner.innerHTML = `<div><b>⚠ ${esc(headline[0])}</b>${headline[1] ? ` <span class="en">· ${esc(headline[1])}</span>` : ""}</div>
    <div class="advice">${esc(advice.join(" · "))}</div>
    <div class="detail">${esc(ai.error || ai.platform?.reason || "")}</div>`;
}

function paintSites(el) {
  const only = el.dataset.aiSites;
  const rows = [...stoppedBySite()].filter(([site]) => !only || site === only);
  el.innerHTML = rows.map(([site, cams]) => {
    const head = bothLangs().map((l) => fill(tIn(l, "{site}: {n} camera(s) not analysed by AI"),
      { site: ai.siteName(site), n: cams.length }));
    const list = cams.map((c) => `${esc(ai.names.get(c.camera_id) || c.camera_id)} (${esc(t(CAMERA_STATE[c.ai_state].label))})`);
    return `<div class="ai-site" data-site="${esc(site)}" role="alert"><b>⚠ ${esc(head[0])}</b>${head[1] ? ` <span class="en">· ${esc(head[1])}</span>` : ""}
      <div>${list.join(" · ")}</div></div>`;
  }).join("");
}

function paintCamera(el) {
  const cam = ai.cameras.get(el.dataset.aiCam);
  const state = cam ? CAMERA_STATE[cam.ai_state] || { label: cam.ai_state, level: "wait" } : null;
  const level = state?.level || (ai.error ? "unknown" : "");
  el.closest(".tile, [data-ai-host]")?.setAttribute("data-ai", level === "bad" ? "stopped" : level);
  el.dataset.aiState = cam?.ai_state || "";
  if (!level) { el.innerHTML = ""; return; }
  if (level !== "bad") {
    el.innerHTML = `<span class="ai-badge ${level}">${esc(t(state ? state.label : "AI status unknown"))}</span>`;
    return;
  }
  el.innerHTML = `<span class="ai-badge bad" title="${esc(cam.ai_reason || "")}">${esc(bothLangs().map((l) => tIn(l, "AI not running")).join(" · "))}</span>
    <span class="ai-why" title="${esc(cam.ai_reason || "")}">${esc(t(state.label))}</span>`;
}

function paintEmptyWall(el) {
  const partial = [...stoppedBySite().values()].reduce((n, cams) => n + cams.length, 0);
  const key = platformStopped() ? "No alarms, but AI detection is not running"
    : partial ? "No alarms, but {n} camera(s) are not analysed by AI" : "";
  el.dataset.ai = platformStopped() ? "stopped" : partial ? "partial" : "running";
  el.textContent = key ? bothLangs().map((l) => fill(tIn(l, key), { n: partial })
    + (platformStopped() ? `${l === "zh" ? "，" : ": "}${tIn(l, "no alarm does not mean all clear")}` : "")).join(" · ")
    : t("No cases");
}
