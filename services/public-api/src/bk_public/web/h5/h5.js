// The parents' H5 page (also inside a mini-program web-view): login, bind, watch, read, rate, complain.
import { API, esc, fmtTime, makeClient } from "/common/api.js";
import { t } from "/common/i18n.js";
import { ledgerHtml } from "/common/ledger.js";
import { playHls } from "/common/player.js";

const api = makeClient("bk.h5.session");
const $ = (s) => document.querySelector(s);
const P = API.public;
const tenant = new URLSearchParams(location.search).get("tenant") || "";
// Faces drawn inline: a web-view or a kiosk box may have no emoji font.
const face = (mouth, color) => `<svg class="face" viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="10.5" fill="none"
  stroke="${color}" stroke-width="1.8"/><circle cx="8.5" cy="9.5" r="1.3" fill="${color}"/><circle cx="15.5" cy="9.5" r="1.3" fill="${color}"/>
  <path d="${mouth}" fill="none" stroke="${color}" stroke-width="1.8" stroke-linecap="round"/></svg>`;
const SCORE = { satisfied: "满意", neutral: "一般", dissatisfied: "不满意" };
const FACE = { satisfied: face("M7.5 14.5q4.5 4 9 0", "#2e7d32"), neutral: face("M8 15.5h8", "#d98a00"),
  dissatisfied: face("M7.5 17q4.5-4 9 0", "#c62828") };
const REFRESH_MS = 5000;
let current = null;   // the open site (with zones and cameras)
let tabSeq = 0;       // a newer tab (or site) wins over a slower older one
let timer = null;     // refresh of the camera stills while the live tab shows
let player = null;    // the live player (HLS) of the live tab, if one plays

function stopPlayer() { player?.stop(); player = null; }

// The API speaks English; parents read Chinese.
function say(err, fallback) {
  const byStatus = { 401: "登录已过期，请重新登录", 404: "未找到，或尚未绑定该学校", 429: "操作太频繁，请稍后再试",
    503: "服务暂不可用，请稍后再试" };
  const msg = String(err?.message || "");
  if (/invite code/i.test(msg)) return "邀请码无效或已过期";
  if (/already rated/i.test(msg)) return "今日已评价过";
  if (/opening hours/i.test(msg)) return `直播仅在食堂开放时间提供（${esc(current?.opening_hours || "")}）`;
  return byStatus[err?.status] || fallback || msg || "出错了";
}

$("#login-btn").onclick = async () => {
  $("#login-error").textContent = "";
  try {
    const code = $("#code").value.trim() || "demo-parent";
    const out = await api.post(`${P}/auth/wx-login`, { code, ...(tenant ? { tenant_id: tenant } : {}) });
    api.token = out.session_token;
    home();
  } catch (e) { $("#login-error").textContent = e.status === 401 ? "登录失败：昵称只能包含字母、数字、-、_（4 位以上）" : say(e); }
};
$("#code").onkeydown = (e) => { if (e.key === "Enter") $("#login-btn").click(); };

$("#bind-btn").onclick = async () => {
  const msg = $("#bind-msg");
  msg.className = "muted"; msg.textContent = "";
  if (!$("#invite").value.trim()) { msg.className = "error"; msg.textContent = "请输入学校提供的邀请码"; return; }
  try {
    const b = await api.post(`${P}/bindings`, { invite_code: $("#invite").value.trim(), child_label: $("#child").value.trim() });
    msg.className = "ok"; msg.textContent = `✔ 已绑定：${b.site_name}`;
    $("#invite").value = "";
    await home(b.site_id);
  } catch (e) { msg.className = "error"; msg.textContent = say(e); }
};

$("#logout").onclick = () => { stopPlayer(); api.token = ""; location.reload(); };

async function home(openId) {
  $("#login").classList.add("hidden"); $("#home").classList.remove("hidden"); $("#logout").classList.remove("hidden");
  let sites;
  try { sites = await api.get(`${P}/sites`); }
  catch (e) { if (e.status === 401 || e.status === 403) { api.token = ""; location.reload(); } return; }
  $("#site-list").innerHTML = sites.map((s) => `<div class="card site" data-site="${esc(s.id)}">
    <div class="row"><b>${esc(s.name)}</b><span class="badge ${s.open_now ? "closed" : ""}">${s.open_now ? "开放中" : "未到开放时间"}</span></div>
    <div class="muted">${esc(s.address)} · 开放时间 ${esc(s.opening_hours)}</div></div>`).join("")
    || `<p class="card muted" id="no-sites">尚未绑定学校：请输入学校发放的邀请码</p>`;
  document.querySelectorAll(".site").forEach((el) => { el.onclick = () => openSite(el.dataset.site); });
  loadNotices();
  const want = openId || current?.id || sites[0]?.id;
  if (want && sites.some((s) => s.id === want)) await openSite(want);
}

async function loadNotices() {
  const notes = await api.get(`${P}/public/notices${tenant ? "?tenant_id=" + encodeURIComponent(tenant) : ""}`).catch(() => []);
  $("#notices").innerHTML = `<h3>公告与科普</h3>` + (notes.map((n) => `<p><span class="tag ${n.kind === "tip" ? "tip" : "notice"}">${n.kind === "tip" ? "科普" : "公告"}</span><b>${esc(n.title)}</b><br>
    <span class="muted">${esc(n.body)}</span></p>`).join("") || `<p class="muted">暂无公告</p>`);
}

async function openSite(id) {
  try { current = await api.get(`${P}/sites/${encodeURIComponent(id)}`); }
  catch (e) { $("#site").classList.remove("hidden"); $("#tab").innerHTML = `<p class="error">${esc(say(e))}</p>`; return; }
  document.querySelectorAll(".site").forEach((el) => el.classList.toggle("active", el.dataset.site === id));
  $("#site").classList.remove("hidden");
  await showTab("live");
}

document.querySelectorAll("[data-tab]").forEach((b) => { b.onclick = () => showTab(b.dataset.tab); });

async function showTab(tab) {
  if (!current) return;
  const seq = ++tabSeq;
  clearTimeout(timer);
  stopPlayer();  // a live stream runs only while its view shows: the gateway stops it after a grace
  const enc = encodeURIComponent(current.id);
  const el = $("#tab");
  document.querySelectorAll("[data-tab]").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  const put = (html) => { if (seq !== tabSeq) return false; el.dataset.tab = tab; el.innerHTML = html; return true; };
  try {
    if (tab === "live") {
      const snaps = await api.get(`${P}/sites/${enc}/snapshots`);
      if (!put(`<h3>${esc(current.name)}</h3>
        <div class="row zones">${current.zones.map((z) => `<span class="badge zone">${esc(z.name || z.zone)}</span>`).join("")}</div>
        <div id="player"></div>
        <div class="cams">${snaps.map((s) => `<figure class="cam" data-cam="${esc(s.camera_id)}">${still(s.url)}
          <figcaption><span>${esc(s.name || s.zone)}</span><button class="ghost" data-play="${esc(s.camera_id)}">▶ 看直播</button></figcaption></figure>`).join("")
          || `<p class="muted">该学校暂未接入摄像头</p>`}</div>
        <p class="muted notice-line">${current.open_now ? "画面每 5 秒刷新" : `当前不在开放时间（${esc(current.opening_hours)}），仅显示最近画面`}</p>`)) return;
      el.querySelectorAll("[data-play]").forEach((b) => { b.onclick = () => play(b.dataset.play); });
      timer = setTimeout(() => refreshStills(seq), REFRESH_MS);
    } else if (tab === "ledger") {
      const l = await api.get(`${P}/sites/${enc}/ledger/today`);
      put(`<h3>今日台账公示 <span class="muted">${esc(l.day)}</span></h3><div id="ledger">${ledgerHtml(l)}</div>`);
    } else if (tab === "cases") {
      const [cs, sc] = await Promise.all([api.get(`${P}/sites/${enc}/cases`), api.get(`${P}/sites/${enc}/score`)]);
      put(`<div class="score-box"><h3>食安指数</h3><span id="score">${esc(sc.score ?? "-")}</span><span class="muted">/ 100</span></div>
        <h3>整改公示</h3>` + (cs.map((c) => `<div class="card closed-case" data-case="${esc(c.case_id)}">
        <div class="row"><b>${esc(t(c.case_type))}</b><span class="badge closed">已整改</span><span class="muted">${fmtTime(c.closed_at)}</span></div>
        <div class="pair"><figure>${c.before_url ? `<img class="snap before" src="${esc(c.before_url)}" alt="整改前">` : `<div class="snap-empty">无图片</div>`}<figcaption>整改前</figcaption></figure>
        <figure>${c.after_url ? `<img class="snap after" src="${esc(c.after_url)}" alt="整改后">` : `<div class="snap-empty">无图片</div>`}<figcaption>整改后</figcaption></figure></div></div>`).join("")
        || `<p class="muted" id="no-closed">暂无整改公示</p>`) + `<p class="muted notice-line">图片中的人脸已做模糊处理</p>`);
    } else {
      const mine = await api.get(`${P}/sites/${enc}/ratings/mine`);
      if (!put(`<h3>今日评价</h3><div class="smiles">${Object.entries(SCORE).map(([k, v]) =>
        `<button data-score="${k}" class="${mine.score === k ? "chosen" : ""}" ${mine.score ? "disabled" : ""}>${FACE[k]}<span>${v}</span></button>`).join("")}</div>
        <p id="rate-msg" class="${mine.score ? "ok" : "muted"}">${mine.score ? "✔ 今日已评价：" + SCORE[mine.score] + "，感谢您的反馈" : "每天可评价一次"}</p>
        <h3>投诉举报</h3><div class="complain-form">
        <select id="cat"><option value="hygiene">卫生问题</option><option value="foreign_object">饭菜有异物</option>
        <option value="illness">就餐后身体不适</option><option value="attitude">服务态度</option><option value="other">其他</option></select>
        <textarea id="ctext" rows="3" maxlength="1000" placeholder="请描述问题（时间、餐次、菜品等）"></textarea>
        <div class="row"><label class="file-btn">＋ 添加照片<input id="cphotos" type="file" accept="image/*" multiple></label>
        <span class="muted">最多 6 张</span></div><div class="thumbs" id="thumbs"></div>
        <button id="complain">提交投诉</button><p id="complain-msg" class="muted"></p></div>`)) return;
      el.querySelectorAll("[data-score]").forEach((b) => { b.onclick = async () => {
        try { await api.post(`${P}/sites/${enc}/ratings`, { score: b.dataset.score }); await showTab("rate"); }
        catch (e) { $("#rate-msg").textContent = say(e); }
      }; });
      $("#cphotos").onchange = () => {
        $("#thumbs").innerHTML = [...$("#cphotos").files].map((f) => `<img src="${URL.createObjectURL(f)}" alt="">`).join("");
      };
      $("#complain").onclick = async () => {
        const msg = $("#complain-msg");
        if (!$("#ctext").value.trim()) { msg.className = "error"; msg.textContent = "请填写投诉内容"; return; }
        const f = new FormData();
        f.append("category", $("#cat").value); f.append("text", $("#ctext").value.trim());
        for (const p of $("#cphotos").files) f.append("photos", p);
        $("#complain").disabled = true;
        try {
          const r = await api.form(`${P}/sites/${enc}/complaints`, f);
          msg.className = "ok"; msg.textContent = `✔ 已受理，编号 ${r.complaint_id}，监管部门将跟进处理`;
          $("#ctext").value = ""; $("#cphotos").value = ""; $("#thumbs").innerHTML = "";
        } catch (e) { msg.className = "error"; msg.textContent = say(e); }
        $("#complain").disabled = false;
      };
    }
  } catch (e) { put(`<p class="error">${esc(say(e))}</p>`); }
}

function still(url) {
  return url ? `<img class="snap" src="${esc(url)}" alt="">` : `<div class="snap-empty">画面加载中…</div>`;
}

// Camera stills: the snapshot view (sim cameras, no HLS, outside a web-view) refreshes itself.
async function refreshStills(seq) {
  if (seq !== tabSeq || !current) return;
  const snaps = await api.get(`${P}/sites/${encodeURIComponent(current.id)}/snapshots`).catch(() => null);
  if (seq !== tabSeq) return;
  for (const s of snaps || []) {
    if (!s.url) continue;
    const fig = document.querySelector(`.cam[data-cam="${CSS.escape(s.camera_id)}"]`);
    const img = fig?.querySelector("img");
    if (fig && !img) fig.firstElementChild.outerHTML = still(s.url);
    else if (img && img.getAttribute("src") !== s.url) img.src = s.url;
    const big = document.querySelector(`#player img[data-cam="${CSS.escape(s.camera_id)}"]`);
    if (big && big.getAttribute("src") !== s.url) big.src = s.url;
  }
  timer = setTimeout(() => refreshStills(seq), REFRESH_MS);
}

// Live view: HLS in a muted, inline <video> (native HLS where the browser has it, else hls.js); when
// the gateway refuses live (409) or the stream cannot play, the refreshed stills of the camera.
// A link that expires while watching is renewed (the next request for the camera's live URL).
async function play(cameraId, attempt = 0) {
  stopPlayer();
  const box = $("#player");
  const cam = current.cameras.find((c) => c.camera_id === cameraId) || {};
  const name = esc(cam.name || cam.zone || cameraId);
  const snapUrl = () => document.querySelector(`.cam[data-cam="${CSS.escape(cameraId)}"] img`)?.getAttribute("src") || "";
  const stillView = (why) => {
    stopPlayer();
    box.dataset.mode = "snapshot";
    box.innerHTML = `<div class="player-box">${snapUrl() ? `<img id="live-still" data-cam="${esc(cameraId)}" src="${esc(snapUrl())}" alt="">`
      : `<div class="snap-empty">画面加载中…</div>`}<span class="live-tag">实时画面 · ${name}</span></div>
      <p class="muted notice-line" id="play-note">${why}</p>`;
  };
  box.dataset.mode = "loading";
  box.dataset.cam = cameraId;
  box.innerHTML = `<div class="player-box"><div class="snap-empty">正在连接 ${name}…</div></div>`;
  try {
    const u = await api.get(`${P}/sites/${encodeURIComponent(current.id)}/cameras/${encodeURIComponent(cameraId)}/live`);
    if (box.dataset.cam !== cameraId || !box.isConnected) return;  // another camera or tab meanwhile
    if (!u.hls) { stillView("该摄像头暂不支持直播，已切换为实时画面（每 5 秒刷新）"); return; }
    // In a mini-program web-view HLS plays in <video>; the native page would hand u.flv to live-player.
    box.dataset.mode = "live";
    box.innerHTML = `<div class="player-box"><video id="video" controls autoplay muted playsinline></video>
      <span class="live-tag on">● 直播 · ${name}</span></div>
      <p class="muted notice-line" id="play-expiry">播放链接有效期至 ${fmtTime(u.expires_at)}</p>`;
    const video = $("#video");
    player = playHls(video, u.hls, () => {
      if (!video.isConnected) return;
      const watched = video.currentTime > 10;  // it played: the link expired or the stream hiccuped
      if (watched || attempt < 1) play(cameraId, watched ? 0 : attempt + 1);
      else stillView("直播暂时无法播放，已切换为实时画面（每 5 秒刷新）");
    });
  } catch (e) {
    if (box.dataset.cam !== cameraId) return;
    if (e.status === 409) stillView("该摄像头暂不支持直播，已切换为实时画面（每 5 秒刷新）");
    else if (e.status === 403) stillView(esc(say(e)));
    else stillView(`直播暂不可用：${esc(say(e))}；显示实时画面`);
  }
}

if (api.token) home();
