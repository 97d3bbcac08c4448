// The person's notification inbox (通知): every alarm and reply sent to them, newest first, with how
// each phone channel went (WeChat, SMS, duty-group robot: sent, being retried, failed after retries,
// not configured).
import { API, esc, fmtTime } from "/common/api.js";
import { t } from "/common/i18n.js";

const $ = (sel) => document.querySelector(sel);
const STATUS_CLASS = { sent: "ok", dead: "bad", skipped: "unknown", retrying: "unknown", sending: "unknown" };

function delivery(d) {
  const why = d.error ? ` title="${esc(d.error)}"` : "";
  return `<span class="ai-badge ${STATUS_CLASS[d.status] || ""}" data-delivery="${esc(d.channel)}"${why}>${esc(t(d.channel))} · ${esc(t(d.status))}</span>`;
}

function item(m) {
  const link = m.case_id ? `<a href="#case/${encodeURIComponent(m.case_id)}">${t("Actions")} →</a>` : "";
  const read = m.read_at ? "" : `<button class="ghost" data-read="${esc(m.id)}">${t("Mark read")}</button>`;
  return `<div class="card alarm ${m.urgent ? "r1" : ""} ${m.read_at ? "read" : "unread"}" data-notification="${esc(m.id)}">
    <div class="row"><b>${esc(m.title)}</b>${m.read_at ? "" : `<span class="badge">${t("Unread")}</span>`}</div>
    <div>${esc(m.body)}</div>
    <div class="muted">${fmtTime(m.created_at)}</div>
    <div class="row">${m.deliveries.map(delivery).join(" ")}</div>
    <div class="row">${link} ${read}</div></div>`;
}

export async function renderInbox(api) {
  $("#view").innerHTML = `<div class="row"><h2>${t("Inbox")}</h2><span class="muted" id="unread"></span></div>
    <div id="inbox" class="wall"><p class="muted">${t("Loading")}…</p></div>`;
  const page = await api.get(`${API.cases}/notifications?limit=100`);
  $("#unread").textContent = `${t("Unread")}: ${page.unread}`;
  $("#inbox").innerHTML = page.items.length ? page.items.map(item).join("") : `<p class="muted">${t("No notifications")}</p>`;
  $("#inbox").onclick = async (e) => {
    const id = e.target?.dataset?.read;
    if (!id) return;
    e.target.disabled = true;
    await api.post(`${API.cases}/notifications/${encodeURIComponent(id)}/read`);
    await renderInbox(api);
    await paintUnread(api);
  };
}

export async function paintUnread(api) {
  const page = await api.get(`${API.cases}/notifications?unread_only=true&limit=1`).catch(() => null);
  const link = document.querySelector('header nav a[href="#inbox"]');
  if (link && page) link.textContent = page.unread ? `${t("Inbox")} (${page.unread})` : t("Inbox");
}
