// Today's ledger publicity (台账公示) as readable cards: shared by the H5 page and the kiosk.
// The ledger's public summary: morning_check {checked, fit}, lists of public fields, completeness 0..1.
import { esc } from "/common/api.js";

export const TITLES = {
  morning_check: "晨检情况", pesticide_tests: "农残快检", disinfections: "餐具消毒", samples: "食品留样",
  accompanying_meals: "陪餐记录", completeness: "台账完整率",
};
const ORDER = ["morning_check", "pesticide_tests", "samples", "disinfections", "accompanying_meals", "completeness"];
const SKIP = new Set(["site_id", "site_name", "day", "date"]);
const FIELDS = {
  item: "品名", result: "结果", inhibition_pct: "抑制率", tested_at: "时间", items: "消毒物品", method: "方式",
  compliant: "达标", started_at: "开始", ended_at: "结束", dish: "菜品", meal: "餐次", weight_g: "留样量",
  taken_at: "时间", quality: "饭菜质量", hygiene: "卫生状况",
};
const VALUES = {
  pass: "✔ 合格", fail: "✘ 不合格", breakfast: "早餐", lunch: "午餐", dinner: "晚餐", snack: "点心",
  boiling: "煮沸", steam: "蒸汽", infrared: "红外消毒柜", dishwasher: "洗碗机", chlorine: "含氯消毒剂",
  good: "好", fair: "一般", poor: "差", true: "✔", false: "✘",
};
const TIME_FIELDS = new Set(["tested_at", "started_at", "ended_at", "taken_at"]);

function cell(k, v) {
  if (v === null || v === undefined || v === "") return "-";
  if (TIME_FIELDS.has(k)) {
    const d = new Date(v);
    return isNaN(d) ? esc(v) : d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit" });
  }
  if (k === "inhibition_pct") return `${Number(v).toFixed(1)}%`;
  if (k === "weight_g") return `${esc(v)} 克`;
  const s = String(v);
  const cls = s === "fail" || s === "false" || s === "poor" ? "bad" : s === "pass" || s === "true" ? "ok" : "";
  return `<span class="${cls}">${esc(VALUES[s] ?? s)}</span>`;
}

function part(k, v) {
  const title = esc(TITLES[k] || k);
  let body;
  if (k === "morning_check" && v && typeof v === "object" && !Array.isArray(v)) {
    body = v.checked ? `<p class="big-figure">${esc(v.fit)} / ${esc(v.checked)}</p><p class="muted">今日晨检人数，健康上岗 ${esc(v.fit)} 人</p>`
      : `<p class="muted">今日暂无晨检记录</p>`;
  } else if (k === "completeness" && typeof v === "number") {
    const pct = Math.round((v <= 1 ? v * 100 : v));
    body = `<div class="meter"><span style="width:${pct}%"></span></div><p class="muted">${pct}%</p>`;
  } else if (Array.isArray(v)) {
    if (!v.length) body = `<p class="muted">今日暂无记录</p>`;
    else {
      const cols = Object.keys(v[0]);
      body = `<table class="ledger-table"><thead><tr>${cols.map((c) => `<th>${esc(FIELDS[c] || c)}</th>`).join("")}</tr></thead>
        <tbody>${v.map((r) => `<tr>${cols.map((c) => `<td>${cell(c, r[c])}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
    }
  } else if (v && typeof v === "object") {
    body = `<ul>${Object.entries(v).map(([a, b]) => `<li>${esc(FIELDS[a] || a)}：${cell(a, b)}</li>`).join("")}</ul>`;
  } else {
    body = `<p>${cell(k, v)}</p>`;
  }
  return `<div class="ledger-part" data-part="${esc(k)}"><h4>${title}</h4>${body}</div>`;
}

export function ledgerHtml(ledger) {
  const keys = Object.keys(ledger || {}).filter((k) => !SKIP.has(k));
  keys.sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99));
  return keys.map((k) => part(k, ledger[k])).join("") || `<p class="muted">今日暂无记录</p>`;
}
