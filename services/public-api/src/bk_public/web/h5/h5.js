// The parents' H5 page (also inside a mini-program web-view): login, bind, watch, read, rate, complain.
import { API, esc, fmtTime, makeClient } from "/common/api.js";

const api = makeClient("bk.h5.session");
const $ = (s) => document.querySelector(s);
const P = API.public;
const tenant = new URLSearchParams(location.search).get("tenant") || "";
let current = null;
const SCORE = { satisfied: "😊 满意", neutral: "😐 一般", dissatisfied: "☹️ 不满意" };

$("#login-btn").onclick = async () => {
  try {
    const out = await api.post(`${P}/auth/wx-login`, { code: $("#code").value || "demo-parent", ...(tenant ? { tenant_id: tenant } : {}) });
    api.token = out.session_token; home();
  } catch (e) { $("#login-error").textContent = e.message; }
};

$("#bind-btn").onclick = async () => {
  try {
    const b = await api.post(`${P}/bindings`, { invite_code: $("#invite").value, child_label: $("#child").value });
    $("#bind-msg").textContent = `已绑定：${b.site_name}`; home();
  } catch (e) { $("#bind-msg").textContent = e.message; }
};

async function home() {
  $("#login").classList.add("hidden"); $("#home").classList.remove("hidden");
  let sites;
  try { sites = await api.get(`${P}/sites`); } catch (e) { if (e.status === 401) { api.token = ""; location.reload(); } return; }
  $("#site-list").innerHTML = sites.map((s) => `<div class="card site" data-site="${esc(s.id)}"><b>${esc(s.name)}</b>
    <span class="badge ${s.open_now ? "closed" : ""}">${s.open_now ? "营业中" : "未到开放时间"}</span>
    <div class="muted">${esc(s.address)} · ${esc(s.opening_hours)}</div></div>`).join("") || `<p class="muted">尚未绑定学校</p>`;
  document.querySelectorAll(".site").forEach((el) => el.onclick = () => openSite(el.dataset.site));
  const notes = await api.get(`${P}/public/notices${tenant ? "?tenant_id=" + tenant : ""}`).catch(() => []);
  $("#notices").innerHTML = `<h3>公告与科普</h3>` + notes.map((n) => `<p><b>${n.kind === "tip" ? "💡" : "📢"} ${esc(n.title)}</b><br>${esc(n.body)}</p>`).join("");
  if (sites.length && !current) openSite(sites[0].id);
}

async function openSite(id) {
  current = await api.get(`${P}/sites/${encodeURIComponent(id)}`);
  $("#site").classList.remove("hidden");
  showTab("live");
}

document.querySelectorAll("[data-tab]").forEach((b) => b.onclick = () => showTab(b.dataset.tab));

async function showTab(tab) {
  const enc = encodeURIComponent(current.id);
  const el = $("#tab");
  el.dataset.tab = tab;
  try {
    if (tab === "live") {
      const snaps = await api.get(`${P}/sites/${enc}/snapshots`);
      el.innerHTML = `<h3>${esc(current.name)}</h3><div class="row">${current.zones.map((z) => `<span class="badge">${esc(z.name || z.zone)}</span>`).join("")}</div>
        ${snaps.map((s) => `<div><img class="snap" src="${esc(s.url)}" alt=""><div class="row">${esc(s.name || s.zone)}
        <button class="ghost" data-play="${esc(s.camera_id)}">观看直播</button></div></div>`).join("")}<div id="player"></div>`;
      el.querySelectorAll("[data-play]").forEach((b) => b.onclick = () => play(b.dataset.play));
    } else if (tab === "ledger") {
      const l = await api.get(`${P}/sites/${enc}/ledger/today`);
      el.innerHTML = `<h3>今日台账公示 ${esc(l.day)}</h3>${ledgerHtml(l)}`;
    } else if (tab === "cases") {
      const cs = await api.get(`${P}/sites/${enc}/cases`);
      const sc = await api.get(`${P}/sites/${enc}/score`);
      el.innerHTML = `<h3>食安指数 <span id="score">${sc.score}</span></h3>` + (cs.map((c) => `<div class="card closed-case">
        <b>${esc(c.case_type)}</b> · 已整改 ${fmtTime(c.closed_at)}<div class="row">
        <figure style="flex:1">${c.before_url ? `<img class="snap" src="${esc(c.before_url)}">` : ""}<figcaption>整改前</figcaption></figure>
        <figure style="flex:1">${c.after_url ? `<img class="snap" src="${esc(c.after_url)}">` : ""}<figcaption>整改后</figcaption></figure></div></div>`).join("") || `<p class="muted">暂无整改公示</p>`);
    } else {
      const mine = await api.get(`${P}/sites/${enc}/ratings/mine`);
      el.innerHTML = `<h3>今日评价</h3><div class="row smiles">${Object.entries(SCORE).map(([k, v]) =>
        `<button data-score="${k}" ${mine.score ? "disabled" : ""}>${v}</button>`).join("")}</div>
        <p id="rate-msg" class="muted">${mine.score ? "今日已评价：" + SCORE[mine.score] : ""}</p>
        <h3>投诉举报</h3><select id="cat"><option value="hygiene">卫生问题</option><option value="foreign_object">异物</option>
        <option value="illness">身体不适</option><option value="attitude">服务态度</option><option value="other">其他</option></select>
        <textarea id="ctext" rows="3" style="width:100%" placeholder="请描述问题"></textarea>
        <input id="cphotos" type="file" accept="image/*" multiple><button id="complain">提交投诉</button><p id="complain-msg" class="muted"></p>`;
      el.querySelectorAll("[data-score]").forEach((b) => b.onclick = async () => {
        try { await api.post(`${P}/sites/${enc}/ratings`, { score: b.dataset.score }); showTab("rate"); }
        catch (e) { $("#rate-msg").textContent = e.message; }
      });
      $("#complain").onclick = async () => {
        const f = new FormData();
        f.append("category", $("#cat").value); f.append("text", $("#ctext").value);
        for (const p of $("#cphotos").files) f.append("photos", p);
        try { const r = await api.form(`${P}/sites/${enc}/complaints`, f); $("#complain-msg").textContent = `已受理，编号 ${r.complaint_id}`; }
        catch (e) { $("#complain-msg").textContent = e.message; }
      };
    }
  } catch (e) { el.innerHTML = `<p class="error">${esc(e.message)}</p>`; }
}

function ledgerHtml(l) {
  const skip = new Set(["site_id", "day"]);
  return Object.entries(l).filter(([k]) => !skip.has(k)).map(([k, v]) => `<div class="ledger-part"><h4>${esc(k)}</h4>
    <pre style="white-space:pre-wrap">${esc(typeof v === "object" ? JSON.stringify(v, null, 1) : v)}</pre></div>`).join("") || `<p class="muted">今日暂无记录</p>`;
}

async function play(cameraId) {
  const box = $("#player");
  try {
    const u = await api.get(`${P}/sites/${encodeURIComponent(current.id)}/cameras/${encodeURIComponent(cameraId)}/live`);
    // In a mini-program web-view, HLS plays in <video>; the native page would hand u.flv to live-player.
    box.innerHTML = `<video id="video" controls autoplay muted playsinline src="${esc(u.hls)}"></video>
      <p class="muted" id="play-expiry">链接有效期至 ${fmtTime(u.expires_at)}</p>`;
  } catch (e) { box.innerHTML = `<p class="error" id="play-error">${esc(e.message)}</p>`; }
}

if (api.token) home();
