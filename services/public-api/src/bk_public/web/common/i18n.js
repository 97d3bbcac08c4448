// zh-CN first, English available. Keys are English phrases; missing keys fall back to the key.
const ZH = {
  "Bright Kitchen": "明厨亮灶", "Supervision console": "智慧监管平台", "Log in": "登录", "Log out": "退出",
  "Username": "用户名", "Password": "密码", "Alarm wall": "告警墙", "Case board": "案件看板", "Map": "地图",
  "Statistics": "统计", "Live view": "视频巡查", "Sites": "单位档案", "Big screen": "大屏", "Exit big screen": "退出大屏",
  "Status": "状态", "All": "全部", "Open only": "仅未办结", "Site": "单位", "Type": "类型", "Risk": "风险等级",
  "Created": "发生时间", "Updated": "更新时间", "Timeline": "处置记录", "Actions": "操作", "Note": "说明",
  "Photos": "照片", "dispatch": "派发", "acknowledge": "签收", "submit": "提交整改", "approve": "审核通过",
  "reject": "驳回", "false_alarm": "误报", "schedule_recheck": "现场复核", "close": "办结", "Back": "返回",
  "new": "待派发", "dispatched": "已派发", "acknowledged": "已签收", "rectifying": "整改中", "submitted": "待审核",
  "recheck": "待复核", "approved": "已通过", "closed": "已办结", "Connected": "已连接", "Reconnecting": "重连中",
  "New alarm": "新告警", "Captured": "抓拍", "Handled": "已处置", "Closure rate": "办结率", "By day": "按日",
  "By type": "按类型", "By site": "按单位", "Open cases": "未办结案件", "Complaints": "投诉", "Score": "食安指数",
  "Licences": "证照", "Zones": "区域", "Cameras": "摄像头", "Contacts": "联系人", "Invite codes": "家长邀请码",
  "Issue code": "生成邀请码", "Revoke": "撤销", "Live": "直播", "Still": "实时画面", "Connecting": "连接中", "Live unavailable": "直播不可用",
  "No cameras": "暂无摄像头", "Live video; stills where a camera has no live stream": "实时视频；无法直播的摄像头显示每 3 秒刷新的画面",
  "No cases": "暂无案件", "Error": "错误",
  "rodent": "鼠患", "fire_unattended": "动火离人", "no_chef_hat": "未戴厨师帽", "no_mask": "未戴口罩",
  "no_uniform": "未穿工作服", "no_gloves": "未戴手套", "smoking": "抽烟", "phone_use": "玩手机",
  "trash_bin_open": "垃圾桶未盖", "stranger": "陌生人闯入", "camera_offline": "摄像头离线",
  "camera_covered": "摄像头遮挡", "Red list": "红榜", "Black list": "黑榜", "Mean hours to close": "平均办结时长(小时)", "Inspection": "检查频次",
  "Rectify with photo": "上传整改照片", "Done": "完成", "Loading": "加载中",
  "created": "立案", "merged": "重复抓拍合并", "yellow_card": "黄牌预警", "red_card": "红牌督办", "cleared": "条件已解除",
  "camera_frozen": "画面冻结", "camera_profile_refused": "AI 配置被拒", "complaint_hygiene": "投诉：卫生问题", "complaint_foreign_object": "投诉：饭菜异物",
  "complaint_illness": "投诉：就餐后不适", "complaint_attitude": "投诉：服务态度", "complaint_other": "投诉：其他",
  "Rectification": "整改材料", "Snapshot": "抓拍图片", "Recheck at": "复核时间", "Description": "描述",
  "Deadline": "整改期限", "Camera": "摄像头", "Occurrences": "次数", "Source": "来源",
  "No actions": "当前无可执行操作", "pushed live": "实时推送", "detection": "AI 抓拍", "camera": "设备告警", "ledger": "台账预警", "complaint": "家长投诉", "manual": "人工录入",
  // Is the AI analysing? (the gateway's /v1/ai/status and each camera's ai_state)
  "AI detection stopped: {reason} since {since}": "AI 识别已停止：{reason}（自 {since} 起）",
  "AI detection stopped: {reason}": "AI 识别已停止：{reason}",
  "AI status unavailable: {reason}": "无法获取 AI 运行状态：{reason}",
  "alarms may be missed, contact operations": "告警可能遗漏，请联系运维",
  "no alarm does not mean all clear": "无告警不代表无违规",
  "{site}: {n} camera(s) not analysed by AI": "{site}：{n} 路摄像头未在 AI 分析中",
  "No alarms, but AI detection is not running": "暂无告警，但 AI 识别未运行",
  "No alarms, but {n} camera(s) are not analysed by AI": "暂无告警，但有 {n} 路摄像头未在 AI 分析中",
  "AI running": "AI 运行中", "AI stopped": "AI 已停止", "AI status unknown": "AI 状态未知",
  "AI not running": "AI 未运行", "AI starting": "AI 启动中", "AI analysing": "AI 分析中",
  "detectors not answering": "检测服务无应答", "no detector connected": "未连接检测服务",
  "no camera is sending frames": "没有摄像头画面可供识别", "camera disabled": "摄像头已停用",
  "detection profile refused": "检测配置被拒绝", "camera offline": "摄像头离线", "gateway not reachable": "视频网关无法访问",
  "run by another gateway": "由其他网关分析",
  // The notification inbox (console/inbox.js): channels and how a delivery went.
  "Inbox": "通知", "Unread": "未读", "Mark read": "标为已读", "No notifications": "暂无通知",
  "wechat": "微信", "sms": "短信", "robot": "群机器人", "sent": "已送达", "dead": "发送失败", "skipped": "未配置", "retrying": "重试中", "sending": "发送中",
};
let lang = localStorage.getItem("bk.lang") || "zh";
export function t(key) { return tIn(lang, key); }
export function getLang() { return lang; }
export function setLang(l) { lang = l; localStorage.setItem("bk.lang", l); document.documentElement.lang = l === "zh" ? "zh-CN" : "en"; }
export function addStrings(extra) { Object.assign(ZH, extra); }
// "{name}" placeholders filled from vars.
export function fill(text, vars = {}) { return text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)); }
export function tIn(l, key) { return l === "zh" ? (ZH[key] ?? key) : key; }
// The languages of a message every reader must get (the AI-stopped banner): Chinese first, then
// English, while the page is in Chinese; English alone otherwise.
export function bothLangs() { return lang === "zh" ? ["zh", "en"] : ["en"]; }
setLang(localStorage.getItem("bk.lang") || "zh");
