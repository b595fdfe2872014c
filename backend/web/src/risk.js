// Credit risk (risk.read: collections, key-account managers, supervisors, auditors): the risk
// report's grade distribution, ABC shares and collection ladder as charts with their CSV/XLSX
// files, the early-warning worklist, and one customer's credit (score, per-indicator breakdown,
// payment class, CA class, red/black list entries, ladder steps).
import { download, get, getAll, post } from "./api.js";
import { $, clear, h } from "./dom.js";
import { fmtTime, label, onLanguage, t } from "./i18n.js";
import { can } from "./store.js";
import { failed, loading, perform } from "./ui.js";

const GRADES = ["A", "B", "C", "D", "E"];
const GRADE_COLORS = { A: "#2f9e44", B: "#94d82d", C: "#fab005", D: "#f76707", E: "#e03131" };
let root;
let charts = [];
let visible = false;
let customerId = null; // the customer whose credit is shown

export function initRisk() {
  root = $("#view-risk");
  onLanguage(() => visible && showRisk());
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
}

export const hideRisk = () => {
  visible = false;
};

export function showRisk() {
  visible = true;
  const reports = h("div", { class: "reports-body" });
  const warnings = h("div", { id: "risk-warnings" });
  const credit = h("div", { id: "credit-view" });
  clear(
    root,
    h("section", { class: "panel" }, h("h2", { text: t("risk.title") })),
    reports,
    h("section", { class: "panel" }, h("h3", { text: t("risk.warnings") }), warnings),
    h("section", { class: "panel" }, h("h3", { text: t("risk.find") }), finder(), credit),
  );
  drawReports(reports);
  drawWarnings(warnings);
  if (customerId) showCredit(customerId);
}

async function drawReports(body) {
  loading(body);
  let data;
  try {
    const [{ echarts }, report] = await Promise.all([import("./charts.js"), get("/risk/report")]);
    data = { echarts, report };
  } catch (error) {
    failed(body, error, () => drawReports(body));
    return;
  }
  charts.forEach((c) => c.dispose());
  charts = [];
  const card = (key, table) =>
    h(
      "section",
      { class: "chart-card", dataset: { report: `risk-${table}` } },
      h("h3", { text: t(key) }),
      h("div", { class: "chart", dataset: { chart: table } }),
      h(
        "div",
        { class: "downloads", "aria-label": t("risk.download") },
        h("button", { type: "button", text: `CSV · ${table}`, onclick: (e) => save(e.currentTarget, { format: "csv", table }, `risk-${table}.csv`) }),
        h("button", { type: "button", text: "XLSX", onclick: (e) => save(e.currentTarget, { format: "xlsx" }, "risk-report.xlsx") }),
      ),
    );
  clear(body, card("risk.grades", "grades"), card("risk.abc", "abc"), card("risk.ladder", "ladder"));
  const el = (name) => body.querySelector(`[data-chart="${name}"]`);
  charts.push(gradesChart(data.echarts, el("grades"), data.report.grades || []));
  charts.push(abcChart(data.echarts, el("abc"), data.report.abc || []));
  charts.push(ladderChart(data.echarts, el("ladder"), data.report.ladder || []));
}

const save = (button, query, filename) => perform(button, () => download("/risk/report", query, filename), t("reports.downloaded", { file: filename }));

function gradesChart(echarts, el, rows) {
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: {},
    grid: { left: 8, right: 16, bottom: 8, top: 32, containLabel: true },
    xAxis: { type: "value", name: t("risk.customers") },
    yAxis: { type: "category", data: rows.map((r) => `${r.department} · ${label("size", r.size)}`), inverse: true },
    series: GRADES.map((g) => ({ name: g, type: "bar", stack: "grades", data: rows.map((r) => r[g] ?? 0), itemStyle: { color: GRADE_COLORS[g] } })),
  });
  return chart;
}

function abcChart(echarts, el, rows) {
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: {},
    grid: { left: 48, right: 16, bottom: 28, top: 36 },
    xAxis: { type: "category", data: rows.map((r) => t("risk.abcClass", { c: r.class })) },
    yAxis: { type: "value", name: "%", max: 100 },
    series: [
      { name: t("risk.customersShare"), type: "bar", data: rows.map((r) => r.customer_share_pct), itemStyle: { color: "#1c7ed6" } },
      { name: t("risk.revenueShare"), type: "bar", data: rows.map((r) => r.revenue_share_pct), itemStyle: { color: "#f59f00" } },
    ],
  });
  return chart;
}

function ladderChart(echarts, el, rows) {
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: {},
    grid: { left: 48, right: 16, bottom: 28, top: 36 },
    xAxis: { type: "category", data: rows.map((r) => label("ladder", r.step)) },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: t("risk.onTime"), type: "bar", stack: "due", data: rows.map((r) => r.due_today_or_later), itemStyle: { color: "#2f9e44" } },
      { name: t("risk.overdue"), type: "bar", stack: "due", data: rows.map((r) => r.overdue), itemStyle: { color: "#e03131" } },
    ],
  });
  return chart;
}

// The early-warning worklist: open alerts of one's customers, newest first; each row names
// its customer (account number and name as one's role sees the file), so no file is fetched.
async function drawWarnings(box) {
  loading(box);
  let alerts;
  try {
    alerts = await getAll("/risk/warnings", {}, 300);
  } catch (error) {
    failed(box, error, () => drawWarnings(box));
    return;
  }
  if (!alerts.length) {
    clear(box, h("p", { class: "note", text: t("risk.noWarnings") }));
    return;
  }
  const rows = alerts.map((a) => {
    const who = [a.account_number, a.customer_name].filter(Boolean).join(" · ") || a.customer_id;
    const ack = can("risk.assess")
      ? h("button", {
          type: "button",
          text: t("risk.ack"),
          onclick: (e) => perform(e.currentTarget, () => post(`/risk/warnings/${a.id}/acknowledge`), t("risk.acked")).then((done) => done && drawWarnings(box)),
        })
      : null;
    return h(
      "tr",
      { dataset: { warning: a.id, kind: a.kind } },
      h("td", { text: label("warning", a.kind) }),
      h("td", {}, h("button", { type: "button", class: "link", text: who, onclick: () => showCredit(a.customer_id) })),
      h("td", { text: t(`warningDetail.${a.kind}`, a.detail || {}) }),
      h("td", { text: fmtTime(a.raised_at) }),
      h("td", {}, ack),
    );
  });
  const heads = ["risk.kind", "risk.customer", "risk.detail", "risk.raised"].map((k) => h("th", { text: t(k) }));
  clear(box, h("div", { class: "table-wrap" }, h("table", { class: "data-table warnings-table" }, h("thead", {}, h("tr", {}, heads, h("th"))), h("tbody", {}, rows))));
}

function finder() {
  const input = h("input", { type: "search", id: "credit-q", maxlength: 200, placeholder: t("risk.findHint"), "aria-label": t("risk.find") });
  const results = h("ul", { class: "customer-results", id: "credit-matches" });
  const form = h("form", { class: "quick-form", role: "search" }, input, h("button", { type: "submit", text: t("risk.findButton") }), results);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    const button = form.querySelector("button[type=submit]");
    loading(results);
    const found = await perform(button, () => get("/customers", { q, page_size: 8 }));
    if (!found) {
      clear(results);
      return;
    }
    if (found.length === 1) {
      clear(results);
      showCredit(found[0].id);
      return;
    }
    clear(results, found.length ? found.map((c) => h("li", {}, h("button", { type: "button", class: "link", text: `${c.account_number} · ${c.name}`, onclick: () => (clear(results), showCredit(c.id)) }))) : h("li", { class: "note", text: t("risk.noCustomer") }));
  };
  return form;
}

// One customer's credit: every part of it from its own endpoint, shown as it arrives.
export async function showCredit(id) {
  customerId = id;
  const box = $("#credit-view");
  if (!box) return;
  loading(box);
  let parts;
  try {
    const [file, credit, cls, lists, cases] = await Promise.all([
      get(`/customers/${id}`),
      get(`/customers/${id}/credit`), // 200 with `rated: false` before the first rating
      get(`/customers/${id}/risk-class`), // 200 before the first evaluation too (evaluated, not kept)
      getAll("/risk/list-entries", { customer_id: id, include_ended: true }, 100),
      getAll("/risk/collection-cases", { customer_id: id }, 100),
    ]);
    parts = { file, rating: credit.rated ? credit : null, cls, lists, cases };
  } catch (error) {
    failed(box, error, () => showCredit(id));
    return;
  }
  if (customerId !== id) return;
  const { file, rating, cls, lists, cases } = parts;
  const fact = (key, value) => [h("dt", { text: t(key) }), h("dd", { text: value ?? "—" })];
  clear(
    box,
    h("h3", { text: t("risk.creditOf", { name: file.name, account: file.account_number }), dataset: { customer: id } }),
    rating
      ? h(
          "dl",
          { class: "facts credit-facts" },
          fact("risk.score", String(rating.score)),
          [h("dt", { text: t("risk.grade") }), h("dd", {}, h("span", { class: "grade", dataset: { grade: rating.grade }, text: rating.grade }))],
          fact("risk.model", t("risk.modelOf", { size: label("size", rating.size), v: rating.model_version })),
          fact("risk.rated", `${fmtTime(rating.rated_at)} · ${rating.rated_by}`),
        )
      : h("p", { class: "note", text: t("risk.notRated") }),
    rating ? breakdown(rating.breakdown || []) : null,
    h("h4", { text: t("risk.payment") }),
    h(
      "dl",
      { class: "facts payment-facts" },
      // No billing month in the window: no behaviour, criterion or facts to show.
      fact("risk.behaviour", cls.behaviour ? `${cls.behaviour} (${t("risk.criterionN", { n: cls.criterion })})` : t("risk.notJudged")),
      [h("dt", { text: t("risk.caClass") }), h("dd", {}, h("span", { class: "ca-class", dataset: { ca: cls.risk_class }, text: cls.risk_class }))],
      fact("risk.policy", cls.policy?.summary),
      cls.behaviour ? fact("risk.detail", t("risk.facts", cls.facts)) : null,
    ),
    h("h4", { text: t("risk.lists") }),
    lists.length
      ? h(
          "ul",
          { class: "list-entries" },
          lists.map((e) => h("li", { dataset: { kind: e.kind } }, t("risk.listEntry", { kind: label("list", e.kind), until: fmtTime(e.valid_until), reason: e.reason, by: e.added_by ?? "—" }), e.ended_at ? ` · ${t("risk.listEnded", { at: fmtTime(e.ended_at) })}` : "")),
        )
      : h("p", { class: "note", text: t("risk.noLists") }),
    h("h4", { text: t("risk.cases") }),
    cases.length ? h("ul", { class: "ladder-cases" }, cases.map(ladderCase)) : h("p", { class: "note", text: t("risk.noCases") }),
  );
}

function breakdown(rows) {
  const body = rows.map((r) =>
    h(
      "tr",
      { class: `level-${r.level}`, dataset: { indicator: r.code } },
      h("th", { scope: "row", text: r.name }),
      h("td", { text: String(r.weight) }),
      h("td", { text: r.criterion_name ?? "" }),
      h("td", { text: String(r.deduction) }),
      h("td", { text: String(r.points) }),
    ),
  );
  const heads = ["risk.indicator", "risk.weight", "risk.criterion", "risk.deduction", "risk.points"].map((k) => h("th", { text: t(k) }));
  return h("div", { class: "table-wrap" }, h("table", { class: "data-table breakdown-table", "aria-label": t("risk.breakdown") }, h("caption", { text: t("risk.breakdown") }), h("thead", {}, h("tr", {}, heads)), h("tbody", {}, body)));
}

function ladderCase(c) {
  const head = c.closed_at ? `${c.number}: ${t("risk.closed", { outcome: c.outcome ?? "—" })}` : t("risk.caseLine", { n: c.number, amount: c.amount, stage: label("ladder", c.stage), due: c.stage_due_on ?? "—" });
  return h(
    "li",
    { dataset: { case: c.number, stage: c.stage } },
    h("strong", { text: head }),
    c.steps?.length ? h("ol", {}, c.steps.map((s) => h("li", { text: t("risk.stepLine", { step: label("ladder", s.step), outcome: s.outcome, by: s.completed_by, at: fmtTime(s.completed_at) }) }))) : null,
  );
}
