// Correcting a capture (标注): the supervisor moves or draws boxes on the raw snapshot, sets what each
// person wears, or marks "not a violation"; saved as labels on the case (the case-manager's
// PUT /cases/{id}/labels, bkcore.verdicts) and exported to train the next model. Boxes are fractions of
// the frame; the server checks everything, this page only draws.
import { API, esc } from "/common/api.js";
import { addStrings, t } from "/common/i18n.js";

addStrings({
  "Labels": "标注", "Labels for training": "训练标注", "Draw box": "画框", "Save labels": "保存标注", "Saved": "已保存",
  "Not a violation": "不是违规", "Back to the verdict": "恢复为裁定结果", "Present": "存在", "Absent here": "此处没有",
  "Somewhere in the box": "在框内某处", "Delete box": "删除框", "unknown": "未判定", "worn": "佩戴", "not worn": "未佩戴",
  "labelled by supervisor": "监管员已修正", "labelled by verdict": "按裁定结果", "labelled by none": "AI 抓拍结果，尚未裁定",
  "Unsaved changes": "有未保存的修改",
  "Drag a box to move it, its corner to resize it; Draw box, then drag on the picture": "拖动框可移动，拖动右下角可调整大小；点“画框”后在图上拖出新框",
  "person": "人员", "phone": "手机", "cigarette": "香烟", "trash_bin_closed": "垃圾桶(已盖)",
  "flame": "明火", "chef_hat": "厨师帽", "mask": "口罩", "uniform": "工作服", "gloves": "手套",
});

const MIN = 0.01;  // smallest box side, as a fraction of the frame
const state = { api: null, caseId: "", data: null, items: [], sel: -1, drawing: false, drag: null, dirty: false };
const $ = (sel) => document.querySelector(sel);

// The server's labels -> one editable list: objects ("present", or somewhere in their box) and absent regions.
function toItems(labels) {
  const objects = (labels?.objects || []).map((o) => ({ label: o.label, box: [...o.box],
    kind: o.located === false ? "somewhere" : "present", attributes: { ...(o.attributes || {}) } }));
  const absent = (labels?.absent || []).map((a) => ({ label: a.label, box: [...a.box], kind: "absent", attributes: {} }));
  return [...objects, ...absent];
}

function toLabels(items, notViolation) {
  const r6 = (v) => Math.round(v * 1e6) / 1e6;
  const box = (b) => b.map(r6);
  return {
    objects: items.filter((i) => i.kind !== "absent").map((i) => ({ label: i.label, box: box(i.box), located: i.kind === "present",
      attributes: i.label === "person" && i.kind === "present" ? i.attributes : {} })),
    absent: items.filter((i) => i.kind === "absent").map((i) => ({ label: i.label, box: box(i.box) })),
    not_violation: !!notViolation,
  };
}

export async function renderLabels(api, caseId, host) {
  let data;
  try { data = await api.get(`${API.cases}/cases/${encodeURIComponent(caseId)}/labels`); }
  catch { host.innerHTML = ""; return; }  // not a detection capture, or not the caller's to label
  // An open case has no verdict yet: start from what the detector claimed.
  Object.assign(state, { api, caseId, data, items: toItems(data.labels ?? data.claimed), sel: -1, drawing: false, drag: null,
    dirty: false });
  state.notViolation = !!data.labels?.not_violation;
  const vocab = data.vocabulary.labels;
  host.innerHTML = `<h4>${t("Labels for training")} <span class="muted" id="labels-by">${t(`labelled by ${data.labelled_by}`)}</span></h4>
    <p class="muted">${t("Drag a box to move it, its corner to resize it; Draw box, then drag on the picture")}</p>
    <div class="labels" id="labels">
      <div class="label-canvas"><img id="labels-img" src="${esc(data.raw_snapshot_url || "")}" alt="">
        <svg id="labels-svg" viewBox="0 0 1000 1000" preserveAspectRatio="none"></svg></div>
      <div class="label-panel">
        <div class="row"><select id="label-new">${vocab.map((l) => `<option value="${esc(l)}">${esc(t(l))}</option>`).join("")}</select>
          <button id="label-draw" class="ghost">${t("Draw box")}</button></div>
        <div id="label-props"></div>
        <div class="row"><button id="label-save">${t("Save labels")}</button>
          <button id="label-notviolation" class="danger">${t("Not a violation")}</button>
          <button id="label-reset" class="ghost">${t("Back to the verdict")}</button></div>
        <p id="labels-status" class="muted"></p><p id="labels-error" class="error"></p>
      </div></div>`;
  paint();
  props();
  const svg = $("#labels-svg");
  svg.addEventListener("pointerdown", onDown);
  svg.addEventListener("pointermove", onMove);
  svg.addEventListener("pointerup", onUp);
  svg.addEventListener("pointerleave", onUp);
  $("#label-draw").onclick = () => { state.drawing = !state.drawing; $("#label-draw").classList.toggle("on", state.drawing); };
  $("#label-save").onclick = () => save(toLabels(state.items, state.notViolation));
  $("#label-notviolation").onclick = () => save(data.not_violation);
  $("#label-reset").onclick = reset;
}

function point(ev) {
  const r = $("#labels-svg").getBoundingClientRect();
  return [Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height))];
}

function onDown(ev) {
  const [x, y] = point(ev);
  if (state.drawing) {
    state.items.push({ label: $("#label-new").value, box: [x, y, x, y], kind: "present", attributes: {} });
    state.sel = state.items.length - 1;
    state.drag = { mode: "draw", x, y };
  } else {
    const target = ev.target.closest("[data-i]");
    if (!target) { state.sel = -1; paint(); props(); return; }
    state.sel = Number(target.dataset.i);
    const b = state.items[state.sel].box;
    state.drag = { mode: target.classList.contains("handle") ? "resize" : "move", x, y, box: [...b] };
  }
  $("#labels-svg").setPointerCapture?.(ev.pointerId);  // the svg outlives the boxes it redraws
  ev.preventDefault();
  paint(); props();
}

function onMove(ev) {
  const d = state.drag;
  if (!d) return;
  const [x, y] = point(ev);
  const item = state.items[state.sel];
  if (d.mode === "draw") item.box = [Math.min(d.x, x), Math.min(d.y, y), Math.max(d.x, x), Math.max(d.y, y)];
  else if (d.mode === "resize") item.box = [d.box[0], d.box[1], Math.max(d.box[0] + MIN, x), Math.max(d.box[1] + MIN, y)];
  else {
    const w = d.box[2] - d.box[0], h = d.box[3] - d.box[1];
    const nx = Math.min(1 - w, Math.max(0, d.box[0] + x - d.x)), ny = Math.min(1 - h, Math.max(0, d.box[1] + y - d.y));
    item.box = [nx, ny, nx + w, ny + h];
  }
  state.dirty = true;
  paint();
}

function onUp() {
  const d = state.drag;
  state.drag = null;
  if (!d) return;
  if (d.mode === "draw") {
    state.drawing = false;
    $("#label-draw").classList.remove("on");
    const b = state.items[state.sel].box;
    if (b[2] - b[0] < MIN || b[3] - b[1] < MIN) { state.items.splice(state.sel, 1); state.sel = -1; }  // a click, not a box
  }
  status(state.dirty ? t("Unsaved changes") : "");
  paint(); props();
}

function paint() {
  const k = (v) => (v * 1000).toFixed(1);
  $("#labels-svg").innerHTML = state.items.map((it, i) => {
    const [x1, y1, x2, y2] = it.box;
    const cls = `lbox ${it.kind}${i === state.sel ? " sel" : ""}`;
    return `<g data-i="${i}" class="${cls}" data-label="${esc(it.label)}">
      <rect x="${k(x1)}" y="${k(y1)}" width="${k(x2 - x1)}" height="${k(y2 - y1)}" vector-effect="non-scaling-stroke"></rect>
      <text x="${k(x1)}" y="${k(y1)}" dy="-6">${esc((it.kind === "absent" ? "✗ " : "") + t(it.label))}</text>
      ${i === state.sel ? `<rect class="handle" data-i="${i}" x="${k(x2) - 14}" y="${k(y2) - 14}" width="28" height="28"></rect>` : ""}</g>`;
  }).join("");
}

function props() {
  const host = $("#label-props");
  const it = state.items[state.sel];
  if (!it) { host.innerHTML = ""; return; }
  const vocab = state.data.vocabulary;
  const kinds = [["present", t("Present")], ["somewhere", t("Somewhere in the box")], ["absent", t("Absent here")]];
  const value = (a) => (a in it.attributes ? String(it.attributes[a]) : "");
  host.innerHTML = `<div class="card label-item">
    <label>${t("Type")} <select id="label-name">${vocab.labels.map((l) => `<option value="${esc(l)}" ${l === it.label ? "selected" : ""}>${esc(t(l))}</option>`).join("")}</select></label>
    <label><select id="label-kind">${kinds.map(([v, n]) => `<option value="${v}" ${v === it.kind ? "selected" : ""}>${n}</option>`).join("")}</select></label>
    ${it.label === "person" && it.kind === "present" ? vocab.attributes.map((a) => `<label>${esc(t(a))} <select data-attr="${esc(a)}">
      <option value="" ${value(a) === "" ? "selected" : ""}>${t("unknown")}</option><option value="1" ${value(a) === "1" ? "selected" : ""}>${t("worn")}</option>
      <option value="0" ${value(a) === "0" ? "selected" : ""}>${t("not worn")}</option></select></label>`).join("") : ""}
    <button id="label-delete" class="ghost">${t("Delete box")}</button></div>`;
  const changed = () => { state.dirty = true; status(t("Unsaved changes")); paint(); props(); };
  $("#label-name").onchange = (e) => { it.label = e.target.value; if (it.label !== "person") it.attributes = {}; changed(); };
  $("#label-kind").onchange = (e) => { it.kind = e.target.value; if (it.kind !== "present") it.attributes = {}; changed(); };
  host.querySelectorAll("[data-attr]").forEach((s) => s.onchange = (e) => {
    if (e.target.value === "") delete it.attributes[s.dataset.attr]; else it.attributes[s.dataset.attr] = Number(e.target.value);
    changed();
  });
  $("#label-delete").onclick = () => { state.items.splice(state.sel, 1); state.sel = -1; changed(); };
}

function status(text) { const el = $("#labels-status"); if (el) el.textContent = text; }

async function save(labels) {
  $("#labels-error").textContent = "";
  try {
    const out = await state.api.req("PUT", `${API.cases}/cases/${encodeURIComponent(state.caseId)}/labels`, labels);
    apply(out);
    status(`${t("Saved")} ✓`);
  } catch (err) { $("#labels-error").textContent = err.message; }
}

async function reset() {
  $("#labels-error").textContent = "";
  try { apply(await state.api.del(`${API.cases}/cases/${encodeURIComponent(state.caseId)}/labels`)); status(`${t("Saved")} ✓`); }
  catch (err) { $("#labels-error").textContent = err.message; }
}

function apply(out) {
  Object.assign(state, { data: out, items: toItems(out.labels ?? out.claimed), sel: -1, dirty: false,
    notViolation: !!out.labels?.not_violation });
  $("#labels-by").textContent = t(`labelled by ${out.labelled_by}`);
  $("#labels").dataset.saved = String(Date.now());
  paint(); props();
}
