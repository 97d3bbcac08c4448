// Canteen-door display: ?site=ID[&tenant=T]; refreshes itself, needs no login (public data only).
import { API, esc } from "/common/api.js";
import { TITLES, ledgerHtml } from "/common/ledger.js";

const q = new URLSearchParams(location.search);
const site = q.get("site") || "", tenant = q.get("tenant");

async function refresh() {
  try {
    if (!site) throw new Error("请在地址中指定 ?site=单位编号");
    const r = await fetch(`${API.public}/public/kiosk/${encodeURIComponent(site)}${tenant ? "?tenant_id=" + encodeURIComponent(tenant) : ""}`);
    if (!r.ok) throw new Error(r.status === 404 ? "未找到该单位" : ((await r.json().catch(() => ({}))).detail || r.statusText));
    const d = await r.json();
    document.querySelector("#site-name").textContent = `${d.site.name} · 食品安全公示`;
    document.querySelector("#score").textContent = d.score ?? "-";  // null until first scored
    document.querySelector("#day").textContent = `公示日期 ${d.ledger.day}`;
    // One card per part of the day's ledger: tests, morning check, samples, disinfection, meals.
    const parts = Object.keys(d.ledger).filter((k) => k in TITLES);
    document.querySelector("#ledger").innerHTML = parts.map((k) => `<div class="card">${ledgerHtml({ [k]: d.ledger[k] })}</div>`).join("")
      || `<div class="card">今日暂无公示记录</div>`;
  } catch (e) { document.querySelector("#ledger").innerHTML = `<p class="error">${esc(e.message)}</p>`; }
}
const tick = () => { document.querySelector("#clock").textContent = new Date().toLocaleTimeString("zh-CN"); };
tick(); setInterval(tick, 1000);
refresh(); setInterval(refresh, 60000);
