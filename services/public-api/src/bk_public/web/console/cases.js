// Case detail and the workflow actions the case-manager offers (it decides; we only ask).
import { API } from "/common/api.js";

// What a role may try in each status; the case-manager enforces the real rules.
const SUPERVISOR = { new: ["dispatch", "false_alarm"], dispatched: ["false_alarm"], acknowledged: ["false_alarm"],
  rectifying: ["false_alarm"], submitted: ["approve", "reject", "schedule_recheck"], recheck: ["approve", "reject"],
  approved: ["close"] };
const SITE = { dispatched: ["acknowledge", "submit"], acknowledged: ["submit"], rectifying: ["submit"] };

export function actionsFor(c, me) {
  if (Array.isArray(c.allowed_actions)) return c.allowed_actions;
  const role = me?.role || "";
  const table = ["site_manager", "staff"].includes(role) ? SITE : SUPERVISOR;
  return table[c.status] || [];
}

export async function loadCase(api, id) {
  const enc = encodeURIComponent(id);
  let detail = null;
  try { detail = await api.get(`${API.cases}/cases/${enc}`); } catch { detail = null; }
  const rows = await api.get(`${API.public}/console/cases/${enc}`).catch(() => null);
  const c = { ...(rows || {}), ...(detail || {}) };
  c.case_id = c.case_id || c.id || id;
  c.snapshot_url = c.snapshot_url || c.annotated_snapshot_url || rows?.snapshot_url || "";
  c.open = !["closed", "false_alarm", "archived"].includes(c.status);
  let timeline = detail?.events || detail?.timeline || [];
  if (!timeline.length) timeline = await api.get(`${API.public}/console/cases/${enc}/timeline`).catch(() => []);
  return { c, timeline };
}

// The case-manager's routes: POST /cases/{id}/<path>; evidence is multipart on /rectifications.
const PATHS = { dispatch: "dispatch", acknowledge: "acknowledge", schedule_recheck: "recheck", approve: "approve",
  reject: "reject", close: "close", false_alarm: "false-alarm" };

export async function doAction(api, id, action, note, files, recheckAt) {
  const enc = encodeURIComponent(id);
  if (action === "submit") {
    const form = new FormData();
    form.append("note", note || "");
    for (const f of files || []) form.append("photos", f);
    return api.form(`${API.cases}/cases/${enc}/rectifications`, form);
  }
  const path = PATHS[action];
  if (!path) throw new Error(`unknown action ${action}`);
  const body = { note: note || "" };
  if (action === "schedule_recheck") {
    const when = recheckAt ? new Date(recheckAt) : new Date(Date.now() + 24 * 3600 * 1000);
    body.recheck_at = when.toISOString();
  }
  return api.post(`${API.cases}/cases/${enc}/${path}`, body);
}
