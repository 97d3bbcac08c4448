// Administration (管理): org units, sites, users, bulk import with a dry run. Every check is the
// case-manager's (its admin API); this page shows its answers, each error next to the field it names.
import { API, esc, fmtTime } from "/common/api.js";
import { addStrings, t } from "/common/i18n.js";

addStrings({
  "Admin": "管理", "Org units": "组织单位", "Users": "用户", "Import": "批量导入", "Add": "新增", "Save": "保存",
  "Edit": "编辑", "Cancel": "取消", "Rename": "重命名", "New name": "新名称", "Reset password": "重置密码",
  "Deactivate": "停用", "Activate": "启用", "Deactivated": "已停用", "Active": "正常", "New password (shown once)": "新密码(仅显示一次)",
  "Id": "编号", "Name": "名称", "Kind": "类型", "Parent": "上级单位", "Unit": "所属单位", "Address": "地址",
  "Latitude": "纬度", "Longitude": "经度", "Opening hours": "营业时间", "Role": "角色", "Phone": "手机",
  "WeChat openid": "微信 openid", "Department": "部门", "Bureau admin": "区县管理员", "Sites of the user": "所属场所",
  "market": "市场监管", "education": "教育", "supervisor": "监管人员", "site_manager": "食堂负责人", "staff": "从业人员",
  "platform_admin": "平台管理员", "parent": "家长", "Full name": "姓名", "city": "市", "district": "区", "county": "县", "township": "街道/乡镇", "grid": "网格",
  "province": "省", "school_canteen": "学校食堂", "kindergarten": "幼儿园", "off_campus_care": "校外托管",
  "university_canteen": "高校食堂", "restaurant": "餐馆", "central_kitchen": "中央厨房", "meal_distributor": "集体用餐配送",
  "elder_canteen": "长者食堂", "unit_canteen": "单位食堂", "other": "其他",
  "prep": "切配区", "washing": "洗消区", "cooking": "烹饪区", "storage": "仓库", "serving": "备餐间",
  "Only administrators": "需要平台管理员或区县管理员权限", "Check only (dry run)": "仅检查(不写入)",
  "Import file": "导入文件", "Row": "行", "Field": "字段", "Problem": "问题", "rows": "行",
  "Nothing was written": "未写入任何数据", "created": "新增", "updated": "更新", "Initial passwords (shown once)": "初始密码(仅显示一次)",
  "All rows pass": "全部通过", "Imported": "已导入", "Saved": "已保存", "CSV or XLSX, header in the first row (English or Chinese names)": "CSV 或 XLSX，首行为列名（中英文均可）",
});

const $ = (sel) => document.querySelector(sel);
const UNIT_KINDS = ["city", "district", "county", "township", "grid"];
const SITE_KINDS = ["school_canteen", "kindergarten", "off_campus_care", "university_canteen", "restaurant",
  "central_kitchen", "meal_distributor", "elder_canteen", "unit_canteen", "other"];
const ZONES = ["prep", "washing", "cooking", "storage", "serving"];
const ROLES = ["supervisor", "site_manager", "staff", "platform_admin"];
const TABS = [["units", "Org units"], ["sites", "Sites"], ["users", "Users"], ["import", "Import"]];

// The server's refusal as {field: message} (422 lists, {field, message} objects) or {"": text}.
function problems(err) {
  let detail;
  try { detail = JSON.parse(err.message); } catch { return { "": err.message }; }
  if (Array.isArray(detail)) return Object.fromEntries(detail.map((e) => [String((e.loc || []).slice(-1)[0] ?? ""), e.msg]));
  if (detail && typeof detail === "object") return { [detail.field || ""]: detail.message };
  return { "": String(detail) };
}

function showProblems(form, err) {
  form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
  const found = problems(err);
  const rest = [];
  for (const [field, msg] of Object.entries(found)) {
    const slot = form.querySelector(`.field-error[data-for="${CSS.escape(field)}"]`);
    if (slot) slot.textContent = msg; else rest.push(field ? `${field}: ${msg}` : msg);
  }
  form.querySelector(".form-error").textContent = rest.join("；");
}

const input = (name, label, attrs = "") => `<label class="field">${t(label)}<input name="${name}" ${attrs}>
  <span class="field-error error" data-for="${name}"></span></label>`;
const select = (name, label, options, attrs = "") => `<label class="field">${t(label)}<select name="${name}" ${attrs}>
  ${options.map(([v, text]) => `<option value="${esc(v)}">${esc(text)}</option>`).join("")}</select>
  <span class="field-error error" data-for="${name}"></span></label>`;
const opts = (values) => values.map((v) => [v, t(v)]);

function fill(form, values) {
  for (const [k, v] of Object.entries(values)) {
    const el = form.elements[k];
    if (!el) continue;
    if (el.type === "checkbox") el.checked = !!v;
    else if (el.multiple) [...el.options].forEach((o) => { o.selected = (v || []).includes(o.value); });
    else el.value = v ?? "";
  }
}

// Only the newest render may paint: a slow answer for a tab left behind must not replace the one shown.
let renderSeq = 0;

export async function renderAdmin(api, sub) {
  const mine = ++renderSeq;
  const tab = TABS.some(([k]) => k === sub) ? sub : "units";
  $("#view").innerHTML = `<div class="row admin-tabs">${TABS.map(([k, label]) =>
    `<a href="#admin/${k}" class="${k === tab ? "active" : ""}">${t(label)}</a>`).join("")}</div><div id="admin-body"></div>`;
  try {
    await { units: renderUnits, sites: renderSites, users: renderUsers, import: renderImport }[tab](api, () => mine !== renderSeq);
  } catch (err) {
    if (mine !== renderSeq) return;
    if (err.status === 403) { $("#admin-body").innerHTML = `<p class="error" id="admin-refused">${t("Only administrators")}</p>`; return; }
    throw err;
  }
}

async function renderUnits(api, stale) {
  const units = await api.get(`${API.cases}/org-units`);
  await api.get(`${API.cases}/users`);  // 403 here when the caller administers nothing
  if (stale()) return;
  $("#admin-body").innerHTML = `<form id="unit-form" class="card row">${input("id", "Id", "required")}${input("name", "Name", "required")}
    ${select("kind", "Kind", opts(UNIT_KINDS))}${select("parent_id", "Parent", [["", "—"], ...units.map((u) => [u.id, `${u.path} ${u.name}`])])}
    <button type="submit">${t("Add")}</button><span class="form-error error"></span></form>
    <table id="units"><thead><tr><th>${t("Id")}</th><th>${t("Name")}</th><th>${t("Kind")}</th><th></th></tr></thead><tbody>
    ${units.map((u) => `<tr data-unit="${esc(u.id)}"><td style="padding-left:${8 + 16 * (u.path.split("/").length - 2)}px">${esc(u.id)}</td>
      <td>${esc(u.name)}</td><td>${esc(t(u.kind))}</td><td><button class="ghost" data-rename="${esc(u.id)}">${t("Rename")}</button></td></tr>`).join("")}
    </tbody></table>`;
  const form = $("#unit-form");
  form.onsubmit = async (e) => {
    e.preventDefault();
    const body = Object.fromEntries(new FormData(form));
    if (!body.parent_id) body.parent_id = null;
    try { await api.post(`${API.cases}/org-units`, body); renderAdmin(api, "units"); } catch (err) { showProblems(form, err); }
  };
  $("#units").onclick = async (e) => {
    const id = e.target.dataset.rename;
    if (!id) return;
    const name = prompt(t("New name"));
    if (!name) return;
    try { await api.req("PATCH", `${API.cases}/org-units/${encodeURIComponent(id)}`, { name }); renderAdmin(api, "units"); }
    catch (err) { alert(Object.values(problems(err)).join("\n")); }
  };
}

async function renderSites(api, stale) {
  const [units, sites] = await Promise.all([api.get(`${API.cases}/org-units`), api.get(`${API.cases}/sites`)]);
  await api.get(`${API.cases}/users`);
  if (stale()) return;
  $("#admin-body").innerHTML = `<form id="site-form" class="card row">${input("id", "Id", "required")}${input("name", "Name", "required")}
    ${select("kind", "Kind", opts(SITE_KINDS))}${select("org_id", "Unit", units.map((u) => [u.id, `${u.path} ${u.name}`]))}
    ${input("address", "Address")}${input("latitude", "Latitude", 'inputmode="decimal"')}${input("longitude", "Longitude", 'inputmode="decimal"')}
    ${input("opening_hours", "Opening hours", 'placeholder="06:30-19:30"')}
    <fieldset class="field"><legend>${t("Zones")}</legend>${ZONES.map((z) =>
      `<label><input type="checkbox" name="zone" value="${z}"> ${t(z)}</label>`).join(" ")}<span class="field-error error" data-for="zones"></span></fieldset>
    <button type="submit" id="site-save">${t("Add")}</button><button type="button" class="ghost hidden" id="site-cancel">${t("Cancel")}</button>
    <span class="form-error error"></span></form>
    <table id="sites-admin"><thead><tr><th>${t("Id")}</th><th>${t("Name")}</th><th>${t("Kind")}</th><th>${t("Unit")}</th>
    <th>${t("Opening hours")}</th><th></th></tr></thead><tbody>${sites.map((s) => `<tr data-site="${esc(s.id)}"><td>${esc(s.id)}</td>
    <td>${esc(s.name)}</td><td>${esc(t(s.kind))}</td><td>${esc(s.org_path)}</td><td>${esc(s.opening_hours)}</td>
    <td><button class="ghost" data-edit="${esc(s.id)}">${t("Edit")}</button></td></tr>`).join("")}</tbody></table>`;
  const form = $("#site-form");
  let editing = null;
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const num = (k) => (data.get(k) === "" ? null : Number(data.get(k)));
    const body = { name: data.get("name"), kind: data.get("kind"), org_id: data.get("org_id"), address: data.get("address"),
      latitude: num("latitude"), longitude: num("longitude"), opening_hours: data.get("opening_hours"),
      zones: data.getAll("zone").map((zone) => ({ zone })) };
    try {
      if (editing) await api.req("PATCH", `${API.cases}/sites/${encodeURIComponent(editing)}`, body);
      else await api.post(`${API.cases}/sites`, { id: data.get("id"), ...body });
      renderAdmin(api, "sites");
    } catch (err) { showProblems(form, err); }
  };
  $("#sites-admin").onclick = async (e) => {
    const id = e.target.dataset.edit;
    if (!id) return;
    const s = await api.get(`${API.cases}/sites/${encodeURIComponent(id)}`);
    editing = id;
    fill(form, { ...s, latitude: s.latitude ?? "", longitude: s.longitude ?? "" });
    form.elements.id.disabled = true;
    form.querySelectorAll('input[name="zone"]').forEach((b) => { b.checked = s.zones.some((z) => z.zone === b.value); });
    $("#site-save").textContent = t("Save"); $("#site-cancel").classList.remove("hidden");
    $("#site-cancel").onclick = () => renderAdmin(api, "sites");
  };
}

async function renderUsers(api, stale) {
  const [users, units, sites] = await Promise.all([api.get(`${API.cases}/users`), api.get(`${API.cases}/org-units`),
    api.get(`${API.cases}/sites`)]);
  if (stale()) return;
  const unitPath = Object.fromEntries(units.map((u) => [u.id, u.path]));
  $("#admin-body").innerHTML = `<form id="user-form" class="card row">${input("username", "Username", "required")}${input("name", "Full name", "required")}
    ${select("role", "Role", opts(ROLES))}${select("org_id", "Unit", [["", "—"], ...units.map((u) => [u.id, `${u.path} ${u.name}`])])}
    ${select("site_ids", "Sites of the user", sites.map((s) => [s.id, s.name]), "multiple size=3")}
    ${input("phone", "Phone", 'inputmode="tel" placeholder="138 0013 8000"')}${input("wechat_openid", "WeChat openid")}
    ${select("department", "Department", opts(["market", "education"]))}
    <label class="field"><span><input type="checkbox" name="bureau_admin"> ${t("Bureau admin")}</span><span class="field-error error" data-for="bureau_admin"></span></label>
    <button type="submit" id="user-save">${t("Add")}</button><button type="button" class="ghost hidden" id="user-cancel">${t("Cancel")}</button>
    <span class="form-error error"></span></form><div id="user-secret" class="card hidden"></div>
    <table id="users"><thead><tr><th>${t("Username")}</th><th>${t("Full name")}</th><th>${t("Role")}</th><th>${t("Unit")}</th>
    <th>${t("Phone")}</th><th>${t("Department")}</th><th>${t("Status")}</th><th></th></tr></thead><tbody>
    ${users.map((u) => `<tr data-user="${esc(u.username)}" class="${u.active ? "" : "muted"}"><td>${esc(u.username)}</td><td>${esc(u.name)}</td>
      <td>${esc(t(u.role))}${u.bureau_admin ? ` · ${t("Bureau admin")}` : ""}</td><td>${esc(u.org_id ? unitPath[u.org_id] || u.org_id : u.site_ids.join("、"))}</td>
      <td>${esc(u.phone)}</td><td>${esc(t(u.department))}</td><td>${t(u.active ? "Active" : "Deactivated")}</td>
      <td class="row"><button class="ghost" data-edit="${esc(u.username)}">${t("Edit")}</button>
      <button class="ghost" data-reset="${esc(u.username)}">${t("Reset password")}</button>
      <button class="${u.active ? "danger" : "ghost"}" data-${u.active ? "deactivate" : "activate"}="${esc(u.username)}">${t(u.active ? "Deactivate" : "Activate")}</button></td></tr>`).join("")}
    </tbody></table>`;
  const form = $("#user-form");
  const secret = (label, who, pw) => {
    $("#user-secret").classList.remove("hidden");
    $("#user-secret").innerHTML = `<b>${t(label)}</b> ${esc(who)}: <code id="secret-value">${esc(pw)}</code>`;
  };
  let editing = null;
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = { name: data.get("name"), role: data.get("role"), org_id: data.get("org_id") || null,
      site_ids: data.getAll("site_ids"), phone: data.get("phone"), wechat_openid: data.get("wechat_openid"),
      department: data.get("department"), bureau_admin: form.elements.bureau_admin.checked };
    try {
      if (editing) await api.req("PATCH", `${API.cases}/users/${encodeURIComponent(editing)}`, body);
      else {
        const made = await api.post(`${API.cases}/users`, { username: data.get("username"), ...body });
        await renderAdmin(api, "users");
        if (made.initial_password) secret("New password (shown once)", made.username, made.initial_password);
        return;
      }
      renderAdmin(api, "users");
    } catch (err) { showProblems(form, err); }
  };
  $("#users").onclick = async (e) => {
    const d = e.target.dataset;
    try {
      if (d.edit) {
        const u = users.find((x) => x.username === d.edit);
        editing = u.username;
        fill(form, { ...u, org_id: u.org_id || "" });
        form.elements.username.disabled = true;
        $("#user-save").textContent = t("Save"); $("#user-cancel").classList.remove("hidden");
        $("#user-cancel").onclick = () => renderAdmin(api, "users");
      } else if (d.reset) {
        const out = await api.post(`${API.cases}/users/${encodeURIComponent(d.reset)}/password`, {});
        secret("New password (shown once)", d.reset, out.password);
      } else if (d.deactivate || d.activate) {
        const who = d.deactivate || d.activate;
        await api.post(`${API.cases}/users/${encodeURIComponent(who)}/${d.deactivate ? "deactivate" : "activate"}`);
        renderAdmin(api, "users");
      }
    } catch (err) { alert(Object.values(problems(err)).join("\n")); }
  };
}

async function renderImport(api, stale) {
  await api.get(`${API.cases}/users`);
  if (stale()) return;
  $("#admin-body").innerHTML = `<form id="import-form" class="card row">${select("kind", "Type", [["sites", t("Sites")], ["users", t("Users")]])}
    <label class="field">${t("Import file")}<input type="file" name="file" accept=".csv,.xlsx" required>
    <span class="muted">${t("CSV or XLSX, header in the first row (English or Chinese names)")}</span></label>
    <button type="submit" name="dry" value="1" class="ghost" id="import-check">${t("Check only (dry run)")}</button>
    <button type="submit" name="dry" value="0" id="import-run">${t("Import")}</button><span class="form-error error"></span></form>
    <div id="import-report"></div>`;
  const form = $("#import-form");
  form.onsubmit = async (e) => {
    e.preventDefault();
    const dry = e.submitter?.value !== "0";
    const data = new FormData();
    data.append("file", form.elements.file.files[0]);
    data.append("dry_run", dry ? "true" : "false");
    const kind = form.elements.kind.value;
    form.querySelector(".form-error").textContent = "";
    $("#import-report").innerHTML = `<p class="muted">${t("Loading")}…</p>`;
    const resp = await fetch(`${API.cases}/import/${kind}/file`, { method: "POST", body: data,
      headers: { Authorization: "Bearer " + api.token } });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok && !body.errors) {
      $("#import-report").innerHTML = "";
      showProblems(form, { message: JSON.stringify(body.detail ?? resp.statusText) });
      return;
    }
    $("#import-report").innerHTML = report(body);
  };
}

function report(r) {
  if (r.errors.length) {
    return `<div class="card" id="import-errors"><p class="error">${r.errors.length} · ${t("Nothing was written")} (${r.rows} ${t("rows")})</p>
      <table><thead><tr><th>${t("Row")}</th><th>${t("Field")}</th><th>${t("Problem")}</th></tr></thead><tbody>
      ${r.errors.map((e) => `<tr data-row="${e.row}"><td>${e.row}</td><td>${esc(e.field)}</td><td>${esc(e.message)}</td></tr>`).join("")}
      </tbody></table></div>`;
  }
  const pw = Object.entries(r.initial_passwords || {});
  return `<div class="card" id="import-ok"><p>${t(r.dry_run ? "All rows pass" : "Imported")} · ${r.rows} ${t("rows")} ·
    ${t("created")} ${r.created.length} · ${t("updated")} ${r.updated.length} ${r.dry_run ? `· ${t("Nothing was written")}` : ""}</p>
    ${pw.length ? `<h4>${t("Initial passwords (shown once)")}</h4><table id="import-passwords">${pw.map(([u, p]) =>
      `<tr><td>${esc(u)}</td><td><code>${esc(p)}</code></td></tr>`).join("")}</table>` : ""}
    <p class="muted">${fmtTime(new Date().toISOString())}</p></div>`;
}
