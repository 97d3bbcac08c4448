// Canteen-door display: ?site=ID[&tenant=T]; refreshes itself, needs no login (public data only).
import { API, esc } from "/common/api.js";

const q = new URLSearchParams(location.search);
const site = q.get("site") || "", tenant = q.get("tenant");
const TITLES = { morning_check: "晨检情况", pesticide_tests: "农残快检", rapid_tests: "农残快检",
  sample_retention: "留样记录", disinfection: "餐具消毒", accompanying_meal: "陪餐记录" };

async function refresh() {
  try {
    const r = await fetch(`${API.public}/public/kiosk/${encodeURIComponent(site)}${tenant ? "?tenant_id=" + tenant : ""}`);
    if (!r.ok) throw new Error((await r.json()).detail || r.statusText);
    const d = await r.json();
    document.querySelector("#site-name").textContent = d.site.name;
    document.querySelector("#score").textContent = d.score;
    document.querySelector("#day").textContent = d.ledger.day;
    document.querySelector("#ledger").innerHTML = Object.entries(d.ledger).filter(([k]) => !["site_id", "day"].includes(k))
      .map(([k, v]) => `<div class="card"><h3>${esc(TITLES[k] || k)}</h3><pre style="white-space:pre-wrap">${esc(typeof v === "object" ? JSON.stringify(v, null, 1) : v)}</pre></div>`).join("");
  } catch (e) { document.querySelector("#ledger").innerHTML = `<p class="error">${esc(e.message)}</p>`; }
}
setInterval(() => { document.querySelector("#clock").textContent = new Date().toLocaleTimeString(); }, 1000);
refresh(); setInterval(refresh, 60000);
