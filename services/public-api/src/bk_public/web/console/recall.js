// City-wide recall (召回): a supervisor names a supplier by its credit code (and a batch, if only one),
// the ledger finds every site, dish and retained sample it reached, and each affected site gets a case.
// The report shows them by name, with each site's case once the case-manager has opened it.
import { API, esc, fmtTime } from "/common/api.js";
import { addStrings, t } from "/common/i18n.js";

addStrings({
  "Recall": "召回", "supplier_recall": "供应商召回", "New recall": "发起召回",
  "Supplier credit code": "供应商统一社会信用代码", "Product (optional)": "品名（可选）",
  "Batch number (optional)": "批次号（可选）", "Reason": "召回原因", "Only under org path (optional)": "仅限组织路径（可选）",
  "Open case": "查看案件", "Recall now": "立即召回", "Affected sites": "涉及单位", "Purchases": "进货批次", "Dishes": "涉及菜品",
  "Retained samples": "留样", "Case pending": "案件生成中", "disposed": "已销毁", "kept": "在库",
  "Nothing reached": "未发现涉及的单位", "Recent recalls": "近期召回", "No recalls": "暂无召回", "Batch": "批次", "Supplier": "供应商",
  "breakfast": "早餐", "lunch": "午餐", "dinner": "晚餐", "snack": "点心",
});

const $ = (sel) => document.querySelector(sel);
const field = (name, label, attrs = "") => `<label class="field">${t(label)}<input name="${name}" ${attrs}>
  <span class="field-error error" data-for="${name}"></span></label>`;

function showProblems(form, err) {
  form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
  let detail;
  try { detail = JSON.parse(err.message); } catch { detail = err.message; }
  const rest = [];
  for (const e of Array.isArray(detail) ? detail : [{ loc: [], msg: String(detail) }]) {
    const name = String((e.loc || []).slice(-1)[0] ?? "");
    const slot = form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`);
    if (slot) slot.textContent = e.msg; else rest.push(e.msg);
  }
  form.querySelector(".form-error").textContent = rest.join("；");
}

function siteCard(s) {
  const link = s.case_id ? `<a href="#case/${encodeURIComponent(s.case_id)}" data-recall-case="${esc(s.site_id)}">${t("Open case")} →</a>`
    : `<span class="muted">${t("Case pending")}</span>`;
  return `<div class="card" data-recall-site="${esc(s.site_id)}">
    <div class="row"><b>${esc(s.site_name)}</b>${link}</div>
    <div class="muted">${t("Purchases")}: ${s.purchases.map((p) => `${esc(p.item)} ${esc(p.batch_no)} · ${esc(p.purchase_date)}`).join("；")}</div>
    <div>${t("Dishes")}: ${s.dishes.map((d) => `<span data-dish>${esc(d.dish)}</span> (${esc(d.meal_date)} ${esc(t(d.meal))})`).join("、") || "—"}</div>
    <div>${t("Retained samples")}: ${s.samples.map((x) => `<span data-sample>${esc(x.dish)}</span> · ${esc(x.fridge)} · ${esc(x.weight_g)} g · ${t(x.disposed ? "disposed" : "kept")}`).join("；") || "—"}</div>
  </div>`;
}

async function showReport(api, id) {
  const r = await api.get(`${API.ledger}/v1/recalls/${encodeURIComponent(id)}`);
  const batch = r.batch ? ` · ${t("Batch")} ${esc(r.batch.item)} ${esc(r.batch.batch_no)}` : "";
  $("#view").innerHTML = `<a href="#recall">← ${t("New recall")}</a>
    <div class="card" id="recall-report" data-recall="${esc(r.id)}">
      <h3>${t("Recall")}: ${esc(r.supplier.name)} (${esc(r.supplier.licence_no)})${batch}</h3>
      <p>${esc(r.reason)}</p><p class="muted">${fmtTime(r.created_at)} · ${t("Affected sites")}: ${r.totals.sites} ·
        ${t("Dishes")}: ${r.totals.dishes} · ${t("Retained samples")}: ${r.totals.samples}</p></div>
    <div class="wall">${r.sites.map(siteCard).join("") || `<p class="muted">${t("Nothing reached")}</p>`}</div>`;
  // Cases open a moment after the recall (through the bus): look again while any is pending.
  if (r.sites.some((s) => !s.case_id)) {
    setTimeout(() => { if (location.hash === `#recall/${encodeURIComponent(id)}`) showReport(api, id); }, 3000);
  }
}

function showForm(api) {
  $("#view").innerHTML = `<h2>${t("New recall")}</h2>
    <form id="recall-form" class="card row">
      ${field("supplier_licence", "Supplier credit code", 'required maxlength="64"')}
      ${field("item", "Product (optional)", 'maxlength="100"')}${field("batch_no", "Batch number (optional)", 'maxlength="64"')}
      ${field("reason", "Reason", 'required maxlength="1000"')}${field("org_path", "Only under org path (optional)", 'maxlength="255"')}
      <button type="submit">${t("Recall now")}</button><span class="form-error error"></span></form>
    <h3>${t("Recent recalls")}</h3><div id="recall-list" class="wall"><p class="muted">${t("Loading")}…</p></div>`;
  api.get(`${API.ledger}/v1/recalls?limit=30`).then((rows) => {
    $("#recall-list").innerHTML = rows.map((r) => `<div class="card" data-recall-item="${esc(r.id)}">
      <a href="#recall/${encodeURIComponent(r.id)}"><b>${esc(r.supplier.name)}</b></a>
      ${r.batch ? `· ${esc(r.batch.item)} ${esc(r.batch.batch_no)}` : ""}<div>${esc(r.reason)}</div>
      <div class="muted">${fmtTime(r.created_at)} · ${t("Affected sites")}: ${r.site_ids.length}</div></div>`).join("")
      || `<p class="muted">${t("No recalls")}</p>`;
  }).catch((err) => { $("#recall-list").innerHTML = `<p class="error">${esc(err.message)}</p>`; });
  $("#recall-form").onsubmit = async (e) => {
    e.preventDefault();
    const form = e.target;
    const v = Object.fromEntries(new FormData(form).entries());
    const body = { supplier_licence: v.supplier_licence, reason: v.reason };
    if (v.item || v.batch_no) body.batch = { item: v.item, batch_no: v.batch_no };
    if (v.org_path) body.scope = { org_path: v.org_path };
    form.querySelector("button").disabled = true;
    try {
      const r = await api.post(`${API.ledger}/v1/recalls`, body);
      location.hash = `#recall/${encodeURIComponent(r.id)}`;
    } catch (err) {
      form.querySelector("button").disabled = false;
      showProblems(form, err);
    }
  };
}

export async function renderRecall(api, id) {
  if (id) return showReport(api, id);
  showForm(api);
}
