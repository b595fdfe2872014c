// Inspections (用电检查): tasks due/done/overdue, open hazards by severity, cases by stage and
// field-verification progress as charts from GET /reports/inspections (CSV/XLSX); the plans and
// tasks; cases with each step's lawful-procedure checklist and the evidence gate's verdict
// (what is missing, the supervisor's override). Each part only for a role the policy lets read it.
import "./views.css";
import { download, get, getAll } from "./api.js";
import { $, clear, h } from "./dom.js";
import { fmtTime, label, onLanguage, t, zoneDate, zoneMidnight } from "./i18n.js";
import { can } from "./store.js";
import { failed, loading, perform } from "./ui.js";

const SEVERITIES = ["low", "medium", "high", "critical"];
const SEVERITY_COLORS = { low: "#74c0fc", medium: "#fab005", high: "#f76707", critical: "#e03131" };
const TASK_SERIES = [
  ["done", "insp.done", "#2f9e44"],
  ["done_late", "insp.doneLate", "#94d82d"],
  ["open", "insp.open", "#1c7ed6"],
  ["overdue", "insp.overdue", "#e03131"],
  ["cancelled", "insp.cancelled", "#adb5bd"],
];
let root;
let charts = [];
let visible = false;
let caseId = null;
let procedure = null;
const period = {};

export const inspectionAllowed = () => can("inspection.read") || can("case.read") || can("inspection.report.read") || can("verification.read");

const shiftDay = (day, days) => new Date(Date.parse(`${day}T12:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

export function initInspection() {
  root = $("#view-inspection");
  const today = zoneDate();
  Object.assign(period, { from: shiftDay(today, -30), to: shiftDay(today, 30) });
  onLanguage(() => visible && showInspection());
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
}

export const hideInspection = () => {
  visible = false;
};

export function showInspection() {
  visible = true;
  const fromInput = h("input", { type: "date", value: period.from, "aria-label": t("insp.from") });
  const toInput = h("input", { type: "date", value: period.to, "aria-label": t("insp.to") });
  const apply = h("button", { type: "button", class: "primary", text: t("insp.show") });
  apply.onclick = () => {
    Object.assign(period, { from: fromInput.value, to: toInput.value });
    showInspection();
  };
  const section = (id, key) => h("section", { class: "panel", id }, h("h3", { text: t(key) }), h("div", { class: "section-body" }));
  const reportBody = h("div", { class: "reports-body" });
  const parts = [
    can("inspection.report.read") ? reportBody : null,
    can("inspection.read") ? section("insp-plans", "insp.plans") : null,
    can("inspection.read") ? section("insp-tasks", "insp.taskList") : null,
    can("case.read") ? section("insp-cases", "insp.cases") : null,
    can("verification.read") ? section("insp-batches", "insp.batches") : null,
  ];
  clear(
    root,
    h("section", { class: "panel" }, h("h2", { text: t("insp.title") }), can("inspection.report.read") ? h("div", { class: "report-controls" }, h("label", {}, t("insp.from"), " ", fromInput), h("label", {}, t("insp.to"), " ", toInput), apply) : null),
    parts,
  );
  if (can("inspection.report.read")) drawReport(reportBody);
  const body = (id) => root.querySelector(`#${id} .section-body`);
  if (can("inspection.read")) {
    drawPlans(body("insp-plans"));
    drawTasks(body("insp-tasks"), false);
  }
  if (can("case.read")) drawCases(body("insp-cases"));
  if (can("verification.read")) drawBatches(body("insp-batches"));
}

const range = () => ({ from: zoneMidnight(period.from), to: zoneMidnight(shiftDay(period.to, 1)) });

async function drawReport(body) {
  loading(body);
  let data;
  try {
    const [{ echarts }, report] = await Promise.all([import("./charts.js"), get("/reports/inspections", range())]);
    data = { echarts, report };
  } catch (error) {
    failed(body, error, () => drawReport(body));
    return;
  }
  charts.forEach((c) => c.dispose());
  charts = [];
  const card = (key, name, table) =>
    h(
      "section",
      { class: "chart-card", dataset: { report: `inspections-${name}` } },
      h("h3", { text: t(key) }),
      h("div", { class: "chart", dataset: { chart: name } }),
      h(
        "div",
        { class: "downloads" },
        h("button", { type: "button", text: `CSV · ${table}`, onclick: (e) => save(e.currentTarget, { ...range(), format: "csv", table }, `inspections-${table}.csv`) }),
        h("button", { type: "button", text: "XLSX", onclick: (e) => save(e.currentTarget, { ...range(), format: "xlsx" }, "inspections.xlsx") }),
      ),
    );
  clear(body, card("insp.tasks", "tasks", "tasks"), card("insp.hazards", "hazards", "hazards"), card("insp.casesChart", "cases", "cases"), card("insp.verification", "verification", "field_verification"));
  const el = (name) => body.querySelector(`[data-chart="${name}"]`);
  const { echarts, report } = data;
  charts.push(tasksChart(echarts, el("tasks"), report.tasks || []));
  charts.push(hazardsChart(echarts, el("hazards"), report.hazards || []));
  charts.push(casesChart(echarts, el("cases"), report.cases || []));
  charts.push(verificationChart(echarts, el("verification"), report.field_verification || []));
}

const save = (button, query, filename) => perform(button, () => download("/reports/inspections", query, filename), t("reports.downloaded", { file: filename }));

function tasksChart(echarts, el, rows) {
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: {},
    grid: { left: 8, right: 16, bottom: 8, top: 32, containLabel: true },
    xAxis: { type: "category", data: rows.map((r) => r.inspector) },
    yAxis: { type: "value", minInterval: 1, name: t("insp.due") },
    series: TASK_SERIES.map(([key, name, color]) => ({ name: t(name), type: "bar", stack: key === "cancelled" ? "other" : "tasks", data: rows.map((r) => r[key] ?? 0), itemStyle: { color } })),
  });
  return chart;
}

function hazardsChart(echarts, el, rows) {
  const chart = echarts.init(el);
  const open = (s) => rows.find((r) => r.severity === s)?.open ?? 0;
  chart.setOption({
    tooltip: { trigger: "axis" },
    grid: { left: 48, right: 16, bottom: 28, top: 24 },
    xAxis: { type: "category", data: SEVERITIES.map((s) => label("severity", s)) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: t("insp.openHazards"), type: "bar", data: SEVERITIES.map((s) => ({ value: open(s), itemStyle: { color: SEVERITY_COLORS[s] } })) }],
  });
  return chart;
}

const STAGES = ["discovery", "evidence", "notice", "hearing", "decision", "enforcement", "recovery", "closure", "closed"];

function casesChart(echarts, el, rows) {
  const kinds = [...new Set(rows.map((r) => r.kind))];
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: {},
    grid: { left: 48, right: 16, bottom: 48, top: 36 },
    xAxis: { type: "category", data: STAGES.map((s) => label("caseStage", s)), axisLabel: { interval: 0, rotate: 30 } },
    yAxis: { type: "value", minInterval: 1, name: t("insp.count") },
    series: kinds.map((k) => ({ name: label("caseKind", k), type: "bar", stack: "cases", data: STAGES.map((s) => rows.filter((r) => r.kind === k && r.stage === s).reduce((n, r) => n + r.cases, 0)) })),
  });
  return chart;
}

function verificationChart(echarts, el, rows) {
  const parts = [
    ["validated", "insp.validated", "#2f9e44"],
    ["checked", "insp.checked", "#1c7ed6"],
    ["rejected", "insp.rejected", "#e03131"],
    ["pending", "insp.pending", "#adb5bd"],
  ];
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: {},
    grid: { left: 8, right: 16, bottom: 8, top: 32, containLabel: true },
    xAxis: { type: "value", minInterval: 1, name: t("insp.files") },
    yAxis: { type: "category", data: rows.map((r) => `${r.batch} (${Math.round((r.progress ?? 0) * 100)} %)`) },
    series: parts.map(([key, name, color]) => ({ name: t(name), type: "bar", stack: "files", data: rows.map((r) => r[key] ?? 0), itemStyle: { color } })),
  });
  return chart;
}

const table = (cls, heads, rows) => h("div", { class: "table-wrap" }, h("table", { class: `data-table ${cls}` }, h("thead", {}, h("tr", {}, heads.map((k) => h("th", { text: k ? t(k) : "" })))), h("tbody", {}, rows)));

async function drawPlans(box) {
  loading(box);
  let plans;
  try {
    plans = await getAll("/inspection-plans", {}, 200);
  } catch (error) {
    failed(box, error, () => drawPlans(box));
    return;
  }
  if (!plans.length) {
    clear(box, h("p", { class: "note", text: t("insp.noPlans") }));
    return;
  }
  const rows = plans.map((p) =>
    h(
      "tr",
      { dataset: { plan: p.id } },
      h("td", { text: p.name }),
      h("td", { text: `${label("planKind", p.kind)}${p.interval_days ? ` · ${t("insp.interval", { n: p.interval_days })}` : p.reason ? ` · ${p.reason}` : ""}` }),
      h("td", { text: p.equipment_type }),
      h("td", { text: fmtTime(p.last_generated_at) }),
    ),
  );
  clear(box, table("plans-table", ["insp.plan", "insp.kind", "insp.equipment", "insp.lastGenerated"], rows));
}

async function drawTasks(box, overdueOnly) {
  loading(box);
  let tasks;
  try {
    tasks = await getAll("/inspection-tasks", overdueOnly ? { overdue: true } : {}, 300);
  } catch (error) {
    failed(box, error, () => drawTasks(box, overdueOnly));
    return;
  }
  const toggle = h("label", { class: "inline" }, h("input", { type: "checkbox", id: "insp-overdue-only", checked: overdueOnly, onchange: (e) => drawTasks(box, e.target.checked) }), " ", t("insp.onlyOverdue"));
  const now = Date.now();
  const late = (task) => ["open", "in_progress"].includes(task.status) && Date.parse(task.due_at) < now;
  tasks.sort((a, b) => Number(late(b)) - Number(late(a)) || Date.parse(a.due_at) - Date.parse(b.due_at));
  const rows = tasks.map((task) =>
    h(
      "tr",
      { class: late(task) ? "overdue" : "", dataset: { task: task.number, status: task.status } },
      h("td", { text: task.number }),
      h("td", { text: `${label("planKind", task.kind)} · ${task.equipment_type}` }),
      h("td", {}, h("span", { class: "tag", text: late(task) ? `${label("taskStatus", task.status)} · ${t("insp.overdue")}` : label("taskStatus", task.status) })),
      h("td", { text: fmtTime(task.due_at) }),
      h("td", { text: fmtTime(task.completed_at) }),
    ),
  );
  clear(box, toggle, tasks.length ? table("tasks-table", ["insp.task", "insp.kind", "insp.status", "insp.dueAt", "insp.completed"], rows) : h("p", { class: "note", text: t("insp.noTasks") }));
}

async function drawCases(box) {
  loading(box);
  let cases;
  try {
    [cases, procedure] = await Promise.all([getAll("/cases", {}, 300), procedure ? Promise.resolve(procedure) : get("/cases/procedure")]);
  } catch (error) {
    failed(box, error, () => drawCases(box));
    return;
  }
  const detail = h("div", { id: "case-detail", "aria-live": "polite" });
  if (!cases.length) {
    clear(box, h("p", { class: "note", text: t("insp.noCases") }));
    return;
  }
  // Grouped by stage, in the procedure's order.
  const order = [...procedure.map((s) => s.name), "closed"];
  cases.sort((a, b) => order.indexOf(a.stage) - order.indexOf(b.stage) || Date.parse(b.opened_at) - Date.parse(a.opened_at));
  const rows = cases.map((c) =>
    h(
      "tr",
      { dataset: { case: c.number, stage: c.stage }, "aria-selected": c.id === caseId ? "true" : "false" },
      h("td", {}, h("button", { type: "button", class: "link", text: c.number, onclick: () => showCase(c.id) })),
      h("td", { text: label("caseKind", c.kind) }),
      h("td", { text: label("caseStage", c.stage) + (c.awaiting_approval ? ` · ${t("insp.awaitingApproval")}` : "") }),
      h("td", { text: c.next_participant ? label("role", c.next_participant) : "—" }),
      h("td", { text: fmtTime(c.stage_due_at) }),
    ),
  );
  clear(box, table("cases-table", ["insp.case", "insp.kind", "insp.stage", "insp.next", "insp.stageDue"], rows), detail);
  if (caseId && cases.some((c) => c.id === caseId)) showCase(caseId);
  else clear(detail, h("p", { class: "note", text: t("insp.pick") }));
}

// One case: every step of the procedure with its checklist (answered, missing, or still ahead)
// and the evidence gate's verdict.
async function showCase(id) {
  caseId = id;
  const box = $("#case-detail");
  if (!box) return;
  for (const row of root.querySelectorAll(".cases-table tbody tr")) row.setAttribute("aria-selected", "false");
  loading(box);
  let data;
  try {
    const [kase, evidence] = await Promise.all([get(`/cases/${id}`), get(`/cases/${id}/evidence`)]);
    data = { kase, evidence };
  } catch (error) {
    failed(box, error, () => showCase(id));
    return;
  }
  if (caseId !== id) return;
  const { kase, evidence } = data;
  root.querySelector(`.cases-table tr[data-case="${kase.number}"]`)?.setAttribute("aria-selected", "true");
  const recorded = new Map((kase.steps || []).map((s) => [s.step, s]));
  const dismissed = kase.outcome === "dismissed";
  const steps = procedure.map((step) => {
    const done = recorded.get(step.name);
    const current = kase.stage === step.name;
    const skipped = !done && dismissed && ["enforcement", "recovery"].includes(step.name) && kase.stage !== step.name;
    const state = done ? "done" : current ? "current" : skipped ? "skipped" : "later";
    const status = done ? t("insp.stepDone", { at: fmtTime(done.completed_at), by: done.completed_by }) : current ? t("insp.stepCurrent") + (kase.awaiting_approval ? ` · ${t("insp.awaitingApproval")}` : "") : skipped ? t("insp.stepSkipped") : t("insp.stepLater");
    const items = step.items.map((item) => {
      const answer = done?.checklist?.[item.key];
      const answered = answer !== undefined && answer !== null && answer !== false && answer !== "";
      const mark = done ? (answered ? `${t("insp.itemOk")} ${typeof answer === "string" ? answer : ""}` : item.required ? t("insp.itemMissing") : "—") : current ? t("insp.itemMissing") : "";
      return h("li", { dataset: { item: item.key, answered: answered ? "yes" : "no" } }, h("span", { class: "item-mark", text: mark }), " ", item.label);
    });
    return h("li", { class: `proc-step step-${state}`, dataset: { step: step.name, state } }, h("strong", { text: `${label("caseStage", step.name)} · ${label("role", step.participant)}` }), " ", h("span", { class: "step-status", text: status }), items.length ? h("ul", { class: "checklist" }, items) : null);
  });
  const good = (evidence.photos || []).filter((p) => p.ok).length;
  const overridden = Boolean(evidence.overridden || kase.override);
  const gate = h(
    "div",
    { class: "evidence-gate", dataset: { ok: evidence.ok ? "yes" : "no", overridden: overridden ? "yes" : "no" } },
    h("h4", { text: t("insp.evidence") }),
    h("p", { class: overridden ? "gate-by-override" : evidence.ok ? "gate-ok" : "gate-blocked", text: t(overridden ? "insp.gateByOverride" : evidence.ok ? "insp.gateOk" : "insp.gateBlocked") }),
    evidence.missing?.length ? h("div", {}, h("span", { text: `${t("insp.missing")}:` }), h("ul", { class: "missing" }, evidence.missing.map((m) => h("li", { text: m })))) : null,
    h("p", { class: "note", text: `${t("insp.photos", { ok: good, n: (evidence.photos || []).length })} · ${t("insp.readings", { n: evidence.readings ?? 0 })}` }),
    kase.override ? h("p", { class: "gate-override", text: t("insp.gateOverridden", { by: kase.override.by, at: fmtTime(kase.override.at), reason: kase.override.reason }) }) : null,
  );
  clear(box, h("h4", { text: `${kase.number} · ${label("caseKind", kase.kind)} · ${kase.summary}` }), h("h4", { text: t("insp.procedure") }), h("ol", { class: "procedure" }, steps), gate);
}

async function drawBatches(box) {
  loading(box);
  let batches;
  try {
    batches = await getAll("/verification-batches", {}, 200);
  } catch (error) {
    failed(box, error, () => drawBatches(box));
    return;
  }
  if (!batches.length) {
    clear(box, h("p", { class: "note", text: t("insp.noBatches") }));
    return;
  }
  // Each batch's progress from its own report (the summary table).
  const summaries = await Promise.all(batches.map((b) => get(`/verification-batches/${b.id}/report`).then((r) => (r.summary || [])[0] || {}).catch(() => ({}))));
  const rows = batches.map((b, i) => {
    const s = summaries[i];
    const progress = Math.round((s.progress ?? 0) * 100);
    return h(
      "tr",
      { dataset: { batch: b.number } },
      h("td", { text: `${b.number} · ${b.name}` }),
      h("td", { text: label("batchStatus", b.status) }),
      h("td", {}, h("progress", { max: 100, value: progress, "aria-label": t("insp.progress") }), ` ${progress} %`),
      h("td", { text: String(s.files ?? s.items ?? "—") }),
      h("td", { text: b.quality_before === null || b.quality_before === undefined ? "—" : `${Math.round(b.quality_before * 100)} %` }),
    );
  });
  clear(box, table("batches-table", ["insp.batch", "insp.status", "insp.progress", "insp.files", "insp.quality"], rows));
}
