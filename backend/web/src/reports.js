// Reports as charts (SLA compliance, vehicle busy by hour, call-center day) with CSV/XLSX files.
import { download, get, put } from "./api.js";
import { $, clear, h } from "./dom.js";
import { label, onLanguage, t, zoneDate, zoneMidnight } from "./i18n.js";
import { can } from "./store.js";
import { confirmAction, failed, loading, perform } from "./ui.js";

const SEGMENTS = ["AB", "BC", "CD", "DE", "EF", "FG", "GH", "AH"];
let root;
let charts = [];
let visible = false;
const period = {};

export function initReports() {
  root = $("#view-reports");
  const today = zoneDate();
  const yesterday = zoneDate(new Date(Date.now() - 86_400_000));
  Object.assign(period, { from: yesterday, to: today, day: yesterday });
  onLanguage(() => visible && showReports());
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
}

export const hideReports = () => {
  visible = false;
};

const nextDay = (day) => new Date(Date.parse(`${day}T12:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

export async function showReports() {
  visible = true;
  const fromInput = h("input", { type: "date", value: period.from, "aria-label": t("reports.from") });
  const toInput = h("input", { type: "date", value: period.to, "aria-label": t("reports.to") });
  const dayInput = h("input", { type: "date", value: period.day, "aria-label": t("reports.day") });
  const apply = h("button", { type: "button", class: "primary", text: t("reports.show") });
  apply.onclick = () => {
    Object.assign(period, { from: fromInput.value, to: toInput.value, day: dayInput.value });
    showReports();
  };
  const body = h("div", { class: "reports-body" });
  clear(root, h("section", { class: "panel" }, h("h2", { text: t("reports.title") }), h("div", { class: "report-controls" }, h("label", {}, t("reports.from"), " ", fromInput), h("label", {}, t("reports.to"), " ", toInput), h("label", {}, t("reports.day"), " ", dayInput), apply)), body);
  loading(body);
  const range = { from: zoneMidnight(period.from), to: zoneMidnight(nextDay(period.to)) };
  let data;
  try {
    const [{ echarts }, sla, busy, daily] = await Promise.all([
      import("./charts.js"),
      get("/reports/sla-compliance", range),
      get("/reports/vehicle-busy", range),
      get("/reports/call-center-daily", { day: period.day }),
    ]);
    data = { echarts, sla, busy, daily };
  } catch (error) {
    failed(body, error, showReports);
    return;
  }
  charts.forEach((c) => c.dispose());
  charts = [];
  const card = (key, report, query, tables) =>
    h(
      "section",
      { class: "chart-card", dataset: { report } },
      h("h3", { text: t(key) }),
      h("div", { class: "chart", dataset: { chart: report } }),
      h("div", { class: "downloads" }, tables.map((table) => h("button", { type: "button", text: `CSV · ${table}`, onclick: (e) => save(e.currentTarget, report, { ...query, format: "csv", table }, `${report}-${table}.csv`) })), h("button", { type: "button", text: "XLSX", onclick: (e) => save(e.currentTarget, report, { ...query, format: "xlsx" }, `${report}.xlsx`) })),
    );
  const cards = [
    card("reports.slaSegments", "sla-compliance", range, ["segments", "departments", "days"]),
    card("reports.slaDepartments", "sla-compliance-dept", range, []),
    card("reports.busy", "vehicle-busy", range, ["hours"]),
    card("reports.daily", "call-center-daily", { day: period.day }, ["summary", "fault_types"]),
  ];
  clear(body, cards, can("report.read") ? slaPolicies() : null);
  const el = (name) => body.querySelector(`[data-chart="${name}"]`);
  charts.push(segmentChart(data.echarts, el("sla-compliance"), data.sla));
  charts.push(departmentChart(data.echarts, el("sla-compliance-dept"), data.sla));
  charts.push(busyChart(data.echarts, el("vehicle-busy"), data.busy));
  charts.push(dailyChart(data.echarts, el("call-center-daily"), data.daily));
}

async function save(button, report, query, filename) {
  const path = `/reports/${report === "sla-compliance-dept" ? "sla-compliance" : report}`;
  await perform(button, () => download(path, query, filename), t("reports.downloaded", { file: filename }));
}

const pct = (rate) => (rate === null || rate === undefined ? null : Math.round((1 - rate) * 1000) / 10);

function segmentChart(echarts, el, sla) {
  const rows = SEGMENTS.map((s) => sla.segments.find((r) => r.segment === s));
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: {},
    grid: { left: 48, right: 48, bottom: 28, top: 36 },
    xAxis: { type: "category", data: SEGMENTS.map((s) => (s === "AH" ? "A→H" : `${s[0]}→${s[1]}`)) },
    yAxis: [{ type: "value", name: "%", max: 100 }, { type: "value", name: t("reports.count") }],
    series: [
      { name: t("reports.compliance"), type: "bar", data: rows.map((r) => (r ? pct(r.breach_rate) : null)), itemStyle: { color: "#2f9e44" } },
      { name: t("reports.breached"), type: "bar", yAxisIndex: 1, data: rows.map((r) => r?.breached ?? 0), itemStyle: { color: "#e03131" } },
    ],
  });
  return chart;
}

function departmentChart(echarts, el, sla) {
  const departments = [...new Set(sla.departments.map((r) => r.department))];
  const segments = SEGMENTS.filter((s) => s !== "AH");
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { type: "scroll" },
    grid: { left: 48, right: 16, bottom: 28, top: 48 },
    xAxis: { type: "category", data: segments.map((s) => `${s[0]}→${s[1]}`) },
    yAxis: { type: "value", name: "%", max: 100 },
    series: departments.map((d) => ({ name: d, type: "bar", data: segments.map((s) => pct(sla.departments.find((r) => r.department === d && r.segment === s)?.breach_rate)) })),
  });
  return chart;
}

function busyChart(echarts, el, busy) {
  const groups = [...new Set(busy.hours.map((r) => `${r.department} · ${label("specialty", r.specialty)}`))];
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { position: "top" },
    grid: { left: 8, right: 16, bottom: 64, top: 16, containLabel: true },
    xAxis: { type: "category", data: [...Array(24).keys()].map(String), name: t("reports.hour"), splitArea: { show: true } },
    yAxis: { type: "category", data: groups, splitArea: { show: true } },
    visualMap: { min: 0, max: 100, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#f1f3f5", "#ffd43b", "#e03131"] } },
    series: [{ name: t("reports.utilisation"), type: "heatmap", data: busy.hours.map((r) => [r.hour, groups.indexOf(`${r.department} · ${label("specialty", r.specialty)}`), Math.round(r.utilisation * 100)]), label: { show: false } }],
  });
  return chart;
}

function dailyChart(echarts, el, daily) {
  const s = daily.summary[0] || {};
  const keys = ["calls", "issued", "ab_breached", "ah_done", "ah_breached", "followed_up", "satisfied", "closed", "open"];
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    grid: { left: 48, right: 16, bottom: 56, top: 16 },
    xAxis: { type: "category", data: keys.map((k) => t(`daily.${k}`)), axisLabel: { interval: 0, rotate: 30 } },
    yAxis: { type: "value" },
    series: [{ type: "bar", data: keys.map((k) => s[k] ?? 0), itemStyle: { color: "#1c7ed6" } }],
  });
  return chart;
}

// SLA limits per region and order type: everyone reads them, supervisors change or add them.
const LIMIT_KEYS = ["AB", "BC", "CD", "DE_same_site", "DE_other_site", "EF", "FG", "GH", "total"];
const limitLabel = (key) => (key === "total" ? "A→H" : key.startsWith("DE_") ? `D→E (${t(`sla.${key}`)})` : `${key[0]}→${key[1]}`);

function slaPolicies() {
  const box = h("section", { class: "chart-card wide", dataset: { report: "sla-policies" } }, h("h3", { text: t("sla.title") }));
  const body = h("div");
  box.append(body);
  loading(body);
  const load = () =>
    get("/sla-policies")
      .then((policies) => draw(body, policies))
      .catch((error) => failed(body, error, load));
  load();
  return box;
}

function draw(body, policies) {
  const editable = can("sla_policy.write");
  const keys = [...LIMIT_KEYS, ...new Set(policies.flatMap((p) => Object.keys(p.limits_minutes)).filter((k) => !LIMIT_KEYS.includes(k)))];
  const inputsFor = (limits, label) =>
    keys.map((key) => {
      const input = h("input", { type: "number", min: 0.1, step: "any", value: limits[key] ?? "", disabled: !editable, "aria-label": `${label} ${limitLabel(key)}` });
      input.dataset.key = key;
      return input;
    });
  const limitsOf = (inputs, base) => {
    const limits = { ...base };
    for (const input of inputs) if (input.value !== "") limits[input.dataset.key] = Number(input.value);
    return limits;
  };
  const save = async (button, region, type, body_) => {
    const answer = await confirmAction(t("confirm.sla", { region, type }));
    if (!answer.ok) return null;
    return perform(button, () => put(`/sla-policies/${encodeURIComponent(region)}/${encodeURIComponent(type)}`, body_), t("sla.saved"));
  };
  const rows = policies.map((p) => {
    const inputs = inputsFor(p.limits_minutes, `${p.region_code} ${p.order_type}`);
    const button = h("button", { type: "button", text: t("common.save"), hidden: !editable });
    button.onclick = async () => {
      const saved = await save(button, p.region_code, p.order_type, { version: p.version, limits_minutes: limitsOf(inputs, p.limits_minutes), responsible: p.responsible });
      if (saved) Object.assign(p, saved);
    };
    return h("tr", { dataset: { policy: `${p.region_code}/${p.order_type}` } }, h("th", { text: `${p.region_code} / ${p.order_type}` }), inputs.map((i) => h("td", {}, i)), h("td", {}, button));
  });
  if (editable && policies.length) {
    // A new region / order type starts from the default policy's limits.
    const base = policies.find((p) => p.region_code === "default") || policies[0];
    const region = h("input", { type: "text", name: "region", maxlength: 32, placeholder: t("sla.region"), "aria-label": t("sla.region") });
    const type = h("select", { name: "type", "aria-label": t("sla.type") }, ["*", "electric", "water"].map((v) => h("option", { value: v, text: v === "*" ? t("filters.any") : label("orderType", v) })));
    const inputs = inputsFor(base.limits_minutes, t("sla.new"));
    const button = h("button", { type: "button", class: "primary", text: t("sla.add") });
    button.onclick = async () => {
      if (!region.value.trim()) {
        region.focus();
        return;
      }
      const saved = await save(button, region.value.trim(), type.value, { version: 1, limits_minutes: limitsOf(inputs, base.limits_minutes), responsible: base.responsible });
      if (saved) draw(body, [...policies.filter((p) => !(p.region_code === saved.region_code && p.order_type === saved.order_type)), saved]);
    };
    rows.push(h("tr", { class: "new-policy" }, h("th", {}, region, " ", type), inputs.map((i) => h("td", {}, i)), h("td", {}, button)));
  }
  clear(body, h("div", { class: "table-wrap" }, h("table", { class: "sla-table" }, h("thead", {}, h("tr", {}, h("th", { text: t("sla.scope") }), keys.map((k) => h("th", { text: `${limitLabel(k)} (${t("sla.minutes")})` })), h("th"))), h("tbody", {}, rows))));
}
