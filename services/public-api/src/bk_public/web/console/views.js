// Console views beyond the cases: SVG map (no tile server), statistics bars, multi-camera view, site profiles.
// Camera tiles and lists carry the camera's AI badge (aistatus.js paints them).
import { API, esc, fmtTime, gatewayUrl } from "/common/api.js";
import { t } from "/common/i18n.js";
import { playHls } from "/common/player.js";
import { paintAi } from "/console/aistatus.js";

const $ = (sel) => document.querySelector(sel);

export async function renderMap(api) {
  const sites = (await api.get(`${API.public}/console/map`)).filter((s) => s.latitude != null && s.longitude != null);
  const W = 900, H = 560, pad = 60;
  const lats = sites.map((s) => s.latitude), lons = sites.map((s) => s.longitude);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  // Equirectangular with cos(lat) on x: good enough for one city, and needs no tiles.
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const sx = (W - 2 * pad) / Math.max(1e-6, (maxLon - minLon) * k), sy = (H - 2 * pad) / Math.max(1e-6, maxLat - minLat);
  const s = Math.min(sx, sy);
  const x = (lon) => pad + (lon - minLon) * k * s, y = (lat) => H - pad - (lat - minLat) * s;
  const dots = sites.map((p) => {
    const color = p.open_cases ? "#c62828" : "#2e7d32", r = 8 + Math.min(12, 3 * p.open_cases);
    return `<g class="site" data-site="${esc(p.site_id)}"><a href="#sites/${encodeURIComponent(p.site_id)}">
      <circle cx="${x(p.longitude)}" cy="${y(p.latitude)}" r="${r}" fill="${color}" fill-opacity=".8"/>
      ${p.complaints ? `<rect x="${x(p.longitude) + r}" y="${y(p.latitude) - r}" width="10" height="10" fill="#d98a00"/>` : ""}
      <text x="${x(p.longitude) + r + 14}" y="${y(p.latitude) + 4}" font-size="13">${esc(p.name)} (${p.open_cases})</text></a></g>`;
  }).join("");
  $("#view").innerHTML = `<div class="ai-sites" data-ai-sites=""></div>
    <svg class="map" viewBox="0 0 ${W} ${H}" role="img" aria-label="${t("Map")}">${dots}</svg>
    <p class="muted">● ${t("Open cases")} ■ ${t("Complaints")}</p>`;
  paintAi();
}

function bars(obj, label) {
  const max = Math.max(1, ...Object.values(obj));
  return `<div class="card bars"><h4>${label}</h4>${Object.entries(obj).map(([k, v]) => `<div class="bar">
    <span style="width:140px">${esc(t(k))}</span><span class="fill" style="width:${(300 * v) / max}px"></span>${v}</div>`).join("")}</div>`;
}

// Statistics, scores and lists come from the case-manager (/stats), their one owner; the periods
// are the tenant's calendar days.
export async function renderStats(api) {
  const since = encodeURIComponent(new Date(Date.now() - 30 * 86400e3).toISOString());
  const q = (g) => api.get(`${API.cases}/stats/summary?group_by=${g}&since=${since}`);
  const [all, byDay, byType, bySite, rb] = await Promise.all([q("none"), q("day"), q("type"), q("site"),
    api.get(`${API.cases}/stats/red-black-list`)]);
  const st = all.groups[0] || { captured: 0, handled: 0, closure_rate: 0, mean_close_h: null };
  const counts = (r) => Object.fromEntries(r.groups.map((g) => [g.key, g.captured]));
  const ranked = (list, label) => `<div class="card"><h4>${label}</h4><ol>${list.map((e) =>
    `<li data-site="${esc(e.site_id)}"><a href="#sites/${encodeURIComponent(e.site_id)}">${esc(e.site_id)}</a> ${e.score} · ${esc(e.grade_label)}</li>`).join("")}</ol></div>`;
  $("#view").innerHTML = `<div class="row" id="stats">
    <div class="card"><h4>${t("Captured")}</h4><h2>${st.captured}</h2></div>
    <div class="card"><h4>${t("Handled")}</h4><h2>${st.handled}</h2></div>
    <div class="card"><h4>${t("Closure rate")}</h4><h2>${(st.closure_rate * 100).toFixed(1)}%</h2></div>
    <div class="card"><h4>${t("Mean hours to close")}</h4><h2>${st.mean_close_h ?? "-"}</h2></div></div>
    <div class="grid">${bars(counts(byDay), t("By day"))}${bars(counts(byType), t("By type"))}${bars(counts(bySite), t("By site"))}</div>
    <div class="grid" id="red-black">${ranked(rb.red, t("Red list"))}${ranked(rb.black, t("Black list"))}</div>`;
}

// Multi-camera live view ("视频巡查"): the cameras of one site at a time, each a muted live video
// (signed HLS from the gateway; native HLS or hls.js), up to LIVE_MAX at once; a camera the gateway
// will not stream (409), or one past LIVE_MAX, shows its still refreshed every STILL_MS instead.
// Leaving the view stops every player, so the gateway stops the streams after its grace period.
const LIVE_MAX = 6, STILL_MS = 3000;
const live = { players: new Map(), timer: null, seq: 0, stills: new Map() };

export function stopLive() {
  live.seq++;
  clearTimeout(live.timer);
  live.players.forEach((p) => p.stop());
  live.players.clear();
  live.stills.forEach((u) => URL.revokeObjectURL(u));
  live.stills.clear();
}

async function liveSites(api) {
  const sites = await api.get(`${API.cases}/sites`);
  return Promise.all(sites.map((s) => api.get(`${API.cases}/sites/${encodeURIComponent(s.id)}`)
    .then((d) => ({ ...s, cameras: d.cameras || [] }), () => ({ ...s, cameras: [] }))));
}

export async function renderLive(api, siteId) {
  stopLive();
  const seq = live.seq;
  const sites = (await liveSites(api)).filter((s) => s.cameras.length);
  if (seq !== live.seq) return;
  const site = sites.find((s) => s.id === siteId) || sites[0];
  if (!site) { $("#view").innerHTML = `<p class="muted">${t("No cameras")}</p>`; return; }
  $("#view").innerHTML = `<div class="row live-head"><label>${t("Site")} <select id="live-site">${sites.map((s) =>
    `<option value="${esc(s.id)}" ${s.id === site.id ? "selected" : ""}>${esc(s.name)} (${s.cameras.length})</option>`).join("")}</select></label>
    <span class="muted">${t("Live video; stills where a camera has no live stream")}</span></div>
    <div class="ai-sites" data-ai-sites="${esc(site.id)}"></div>
    <div class="grid live-grid" id="live-grid">${site.cameras.map((c) => `<div class="card tile" data-cam="${esc(c.camera_id)}" data-mode="connecting">
      <div class="screen"><video muted autoplay playsinline></video><img class="snap" alt=""><span class="tag">${t("Connecting")}</span>
        <span class="ai" data-ai-cam="${esc(c.camera_id)}"></span></div>
      <div>${esc(site.name)} · ${esc(c.name || c.zone)}</div></div>`).join("")}</div>`;
  paintAi();
  $("#live-site").onchange = (e) => { location.hash = `#live/${encodeURIComponent(e.target.value)}`; };
  site.cameras.forEach((c, i) => startTile(api, c.camera_id, seq, i < LIVE_MAX));
  refreshStills(api, seq);
}

function tileOf(cam) { return document.querySelector(`#live-grid .tile[data-cam="${CSS.escape(cam)}"]`); }

function setMode(tile, mode, label) {
  tile.dataset.mode = mode;
  tile.querySelector(".tag").textContent = label;
}

async function startTile(api, cam, seq, wantLive, attempt = 0) {
  const tile = tileOf(cam);
  if (!tile || seq !== live.seq) return;
  if (!wantLive) { setMode(tile, "still", t("Still")); return; }
  try {
    const u = await api.post(`${API.gateway}/v1/cameras/${encodeURIComponent(cam)}/live`);
    if (seq !== live.seq || !tile.isConnected) return;
    const video = tile.querySelector("video");
    live.players.get(cam)?.stop();
    const player = playHls(video, gatewayUrl(u.hls_url), () => {
      live.players.delete(cam);
      if (seq !== live.seq || !tile.isConnected) return;
      const watched = video.currentTime > 10;  // it played: the link expired or the stream hiccuped
      if (watched || attempt < 1) startTile(api, cam, seq, true, watched ? 0 : attempt + 1);
      else setMode(tile, "still", t("Still"));
    });
    live.players.set(cam, player);
    video.addEventListener("playing", () => setMode(tile, "live", "● " + t("Live")), { once: true });
  } catch (err) {
    if (seq === live.seq && tile.isConnected) setMode(tile, "still", err.status === 409 ? t("Still") : t("Live unavailable"));
  }
}

// Stills of the tiles not playing live: the gateway's latest frame, fetched with the user's token.
async function refreshStills(api, seq) {
  for (const tile of document.querySelectorAll('#live-grid .tile[data-mode="still"]')) {
    if (seq !== live.seq) return;
    const cam = tile.dataset.cam;
    const resp = await fetch(`${API.gateway}/v1/cameras/${encodeURIComponent(cam)}/snapshot.jpg`,
      { headers: { Authorization: "Bearer " + api.token } }).catch(() => null);
    if (!resp?.ok || seq !== live.seq) continue;
    const url = URL.createObjectURL(await resp.blob());
    if (seq !== live.seq) { URL.revokeObjectURL(url); return; }
    tile.querySelector("img").src = url;
    if (live.stills.has(cam)) URL.revokeObjectURL(live.stills.get(cam));
    live.stills.set(cam, url);
  }
  if (seq === live.seq && document.querySelector("#live-grid")) live.timer = setTimeout(() => refreshStills(api, seq), STILL_MS);
}

export async function renderSites(api, id, me) {
  if (!id) {
    const sites = await api.get(`${API.cases}/sites`);
    $("#view").innerHTML = `<table><tbody>${sites.map((s) => `<tr><td><a href="#sites/${encodeURIComponent(s.id)}">${esc(s.name)}</a></td>
      <td>${esc(s.kind)}</td><td>${esc(s.address)}</td><td>${esc(s.opening_hours)}</td></tr>`).join("")}</tbody></table>`;
    return;
  }
  const enc = encodeURIComponent(id);
  const [s, cases, codes, sc] = await Promise.all([api.get(`${API.cases}/sites/${enc}`),
    api.get(`${API.public}/console/cases?site_id=${enc}&limit=20`), api.get(`${API.public}/admin/sites/${enc}/invite-codes`).catch(() => []),
    api.get(`${API.cases}/stats/sites/${enc}/score`).catch(() => null)]);
  $("#view").innerHTML = `<div class="ai-sites" data-ai-sites="${esc(id)}"></div>
    <div class="card"><h3>${esc(s.name)}</h3><p class="muted">${esc(s.address)} · ${esc(s.opening_hours)}</p>
    ${sc ? `<p id="site-score">${t("Score")} <b>${sc.score}</b> · ${esc(sc.grade_label)} · ${t("Inspection")} ${esc(sc.inspection_label)}${sc.list ? ` · ${t(sc.list === "red" ? "Red list" : "Black list")} #${sc.rank}` : ""}</p>` : ""}
    <h4>${t("Licences")}</h4><ul>${(s.licences || []).map((l) => `<li>${esc(l.kind)} ${esc(l.number)} · ${esc(l.expiry || "")}</li>`).join("")}</ul>
    <h4>${t("Zones")}</h4><p>${(s.zones || []).map((z) => esc(z.name || z.zone)).join(" · ")}</p>
    <h4>${t("Cameras")}</h4><ul id="site-cameras">${(s.cameras || []).map((c) => `<li data-ai-host data-cam="${esc(c.camera_id)}">
      ${esc(c.name || c.zone)} <span class="ai" data-ai-cam="${esc(c.camera_id)}"></span></li>`).join("")}</ul>
    <h4>${t("Case board")}</h4><ul>${cases.map((c) => `<li><a href="#case/${encodeURIComponent(c.case_id)}">${esc(t(c.case_type))}</a> · ${esc(t(c.status))} · ${fmtTime(c.updated_at)}</li>`).join("")}</ul>
    <h4>${t("Invite codes")}</h4><div class="row"><button id="issue">${t("Issue code")}</button></div>
    <ul id="codes">${codes.map((c) => `<li><code>${esc(c.code)}</code> ${c.revoked ? "✗" : ""} · ${c.bound_parents}
      ${c.revoked ? "" : `<button class="ghost" data-revoke="${esc(c.code)}">${t("Revoke")}</button>`}</li>`).join("")}</ul></div>`;
  paintAi();
  $("#issue").onclick = async () => { await api.post(`${API.public}/admin/sites/${enc}/invite-codes`, { label: "" }); renderSites(api, id, me); };
  document.querySelectorAll("[data-revoke]").forEach((b) => b.onclick = async () => {
    await api.del(`${API.public}/admin/invite-codes/${encodeURIComponent(b.dataset.revoke)}`); renderSites(api, id, me);
  });
}
