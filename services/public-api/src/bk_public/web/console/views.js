// Console views beyond the cases: SVG map (no tile server), statistics bars, multi-camera view, site profiles.
import { API, esc, fmtTime } from "/common/api.js";
import { t } from "/common/i18n.js";

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
  $("#view").innerHTML = `<svg class="map" viewBox="0 0 ${W} ${H}" role="img" aria-label="${t("Map")}">${dots}</svg>
    <p class="muted">● ${t("Open cases")} ■ ${t("Complaints")}</p>`;
}

function bars(obj, label) {
  const max = Math.max(1, ...Object.values(obj));
  return `<div class="card bars"><h4>${label}</h4>${Object.entries(obj).map(([k, v]) => `<div class="bar">
    <span style="width:140px">${esc(t(k))}</span><span class="fill" style="width:${(300 * v) / max}px"></span>${v}</div>`).join("")}</div>`;
}

export async function renderStats(api) {
  const st = await api.get(`${API.public}/console/stats?days=30`);
  $("#view").innerHTML = `<div class="row" id="stats">
    <div class="card"><h4>${t("Captured")}</h4><h2>${st.captured}</h2></div>
    <div class="card"><h4>${t("Handled")}</h4><h2>${st.handled}</h2></div>
    <div class="card"><h4>${t("Closure rate")}</h4><h2>${(st.closure_rate * 100).toFixed(1)}%</h2></div>
    <div class="card"><h4>${t("Mean hours to close")}</h4><h2>${st.mean_hours_to_close ?? "-"}</h2></div></div>
    <div class="grid">${bars(st.by_day, t("By day"))}${bars(st.by_type, t("By type"))}${bars(st.by_site, t("By site"))}</div>`;
}

export async function renderLive(api) {
  const sites = await api.get(`${API.cases}/sites`);
  const cams = [];
  for (const s of sites.slice(0, 8)) {
    const d = await api.get(`${API.cases}/sites/${encodeURIComponent(s.id)}`).catch(() => ({ cameras: [] }));
    (d.cameras || []).forEach((c) => cams.push({ ...c, site: s.name }));
  }
  $("#view").innerHTML = `<div class="grid" id="live-grid">${cams.map((c) => `<div class="card">
    <img class="snap" data-cam="${esc(c.camera_id)}" alt=""><div>${esc(c.site)} · ${esc(c.name || c.zone)}</div></div>`).join("")}</div>`;
  const refresh = async () => {
    if (!document.querySelector("#live-grid")) return;
    for (const img of document.querySelectorAll("#live-grid img")) {
      const r = await api.get(`${API.gateway}/cameras/${encodeURIComponent(img.dataset.cam)}/snapshot-url`).catch(() => null);
      if (r?.url) img.src = r.url;
    }
    setTimeout(refresh, 3000);  // refreshed stills: plays everywhere, no HLS player needed
  };
  refresh();
}

export async function renderSites(api, id, me) {
  if (!id) {
    const sites = await api.get(`${API.cases}/sites`);
    $("#view").innerHTML = `<table><tbody>${sites.map((s) => `<tr><td><a href="#sites/${encodeURIComponent(s.id)}">${esc(s.name)}</a></td>
      <td>${esc(s.kind)}</td><td>${esc(s.address)}</td><td>${esc(s.opening_hours)}</td></tr>`).join("")}</tbody></table>`;
    return;
  }
  const enc = encodeURIComponent(id);
  const [s, cases, codes] = await Promise.all([api.get(`${API.cases}/sites/${enc}`),
    api.get(`${API.public}/console/cases?site_id=${enc}&limit=20`), api.get(`${API.public}/admin/sites/${enc}/invite-codes`).catch(() => [])]);
  $("#view").innerHTML = `<div class="card"><h3>${esc(s.name)}</h3><p class="muted">${esc(s.address)} · ${esc(s.opening_hours)}</p>
    <h4>${t("Licences")}</h4><ul>${(s.licences || []).map((l) => `<li>${esc(l.kind)} ${esc(l.number)} · ${esc(l.expiry || "")}</li>`).join("")}</ul>
    <h4>${t("Zones")}</h4><p>${(s.zones || []).map((z) => esc(z.name || z.zone)).join(" · ")}</p>
    <h4>${t("Case board")}</h4><ul>${cases.map((c) => `<li><a href="#case/${encodeURIComponent(c.case_id)}">${esc(t(c.case_type))}</a> · ${esc(t(c.status))} · ${fmtTime(c.updated_at)}</li>`).join("")}</ul>
    <h4>${t("Invite codes")}</h4><div class="row"><button id="issue">${t("Issue code")}</button></div>
    <ul id="codes">${codes.map((c) => `<li><code>${esc(c.code)}</code> ${c.revoked ? "✗" : ""} · ${c.bound_parents}
      ${c.revoked ? "" : `<button class="ghost" data-revoke="${esc(c.code)}">${t("Revoke")}</button>`}</li>`).join("")}</ul></div>`;
  $("#issue").onclick = async () => { await api.post(`${API.public}/admin/sites/${enc}/invite-codes`, { label: "" }); renderSites(api, id, me); };
  document.querySelectorAll("[data-revoke]").forEach((b) => b.onclick = async () => {
    await api.del(`${API.public}/admin/invite-codes/${encodeURIComponent(b.dataset.revoke)}`); renderSites(api, id, me);
  });
}
