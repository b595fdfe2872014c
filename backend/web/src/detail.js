// One order: facts, its timeline A..H with live segment clocks, and what this role may do now.
import { get, post } from "./api.js";
import { $, clear, h } from "./dom.js";
import { fmtDuration, fmtKm, fmtTime, label, onLanguage, t } from "./i18n.js";
import { colorOf } from "./sla.js";
import { can, crewName, deptName, emit, on, plateOf, putOrder, role, state } from "./store.js";
import { confirmAction, failed, formDialog, loading, perform } from "./ui.js";

const RECALL_FROM_CENTER = ["at_repair_center", "center_accepted"];
const WITH_CREW = ["dispatched", "delivered", "accepted", "en_route"];
let liveCells = [];
let shown = { id: null, version: null, timeline: null, status: null };
let choosing = null; // {id, mode} while a candidate list is open

// A candidate list stays open across refreshes while its action still applies to the order.
const stillChoosing = (order) => choosing?.id === order.id && (choosing.mode === "dispatch" ? order.status === "center_accepted" : WITH_CREW.includes(order.status));

export function initDetail() {
  on("select", select);
  // Re-render only when this order or its timeline changed: a refresh of other orders must not
  // wipe the candidates the dispatcher is choosing from.
  on("order", (order) => order.id === state.selected && order.version !== shown.version && render());
  on("timelines", () => state.selected && state.timelines.get(state.selected) !== shown.timeline && render());
  on("tick", tick);
  onLanguage(() => render());
  render();
}

function select(id) {
  state.selected = id;
  for (const el of document.querySelectorAll(".order-button")) el.setAttribute("aria-pressed", el.closest("li").dataset.id === id ? "true" : "false");
  render();
  $("#detail-title").focus({ preventScroll: true });
}

function render() {
  const body = $("#detail-body");
  const order = state.orders.get(state.selected);
  // The open candidate list survives a refresh of the same order in the same state.
  const keep = order && stillChoosing(order) ? $("#candidates") : null;
  if (!keep) choosing = null;
  shown = { id: order?.id ?? null, version: order?.version ?? null, timeline: order ? state.timelines.get(order.id) : null, status: order?.status ?? null };
  liveCells = [];
  if (!order) {
    clear(body, h("p", { class: "note", text: t("detail.pick") }));
    return;
  }
  const facts = [
    ["detail.number", order.number],
    ["detail.status", label("status", order.status)],
    ["detail.priority", label("priority", order.priority)],
    ["detail.type", `${label("orderType", order.order_type)} · ${label("specialty", order.specialty)}`],
    ["detail.fault", order.fault_type],
    ["detail.address", order.address],
    ["detail.caller", [order.caller_name, order.caller_phone].filter(Boolean).join(" · ")],
    ["detail.repairCenter", deptName(order.repair_center_id)],
    ["detail.crew", order.crew_id ? `${crewName(order.crew_id)} · ${plateOf(order.vehicle_id)}` : null],
    ["detail.created", fmtTime(order.created_at)],
    ["detail.description", order.description],
    ["detail.followUp", order.follow_up_result],
  ];
  clear(
    body,
    h("dl", { class: "facts" }, facts.filter(([, v]) => v).map(([k, v]) => [h("dt", { text: t(k) }), h("dd", { text: String(v) })])),
    actions(order),
    keep || h("div", { id: "candidates" }),
    timeline(order),
  );
}

function actions(order) {
  const bar = h("div", { class: "actions", role: "group", "aria-label": t("detail.actions") });
  const add = (key, handler, cls = "") => bar.append(h("button", { type: "button", class: cls, dataset: { action: key }, text: t(`action.${key}`), onclick: (e) => handler(e.currentTarget) }));
  const s = order.status;
  if (s === "new" && can("order.issue")) add("issue", (b) => issue(order, b), "primary");
  if (s === "at_repair_center" && can("order.accept")) add("accept", (b) => perform(b, async () => putOrder(await post(`/work-orders/${order.id}/accept`)), t("done.accept", { n: order.number })), "primary");
  // Dispatch only once the repair center has accepted the order.
  if (s === "center_accepted" && can("order.dispatch")) add("candidates", () => showCandidates(order, "dispatch"), "primary");
  if (WITH_CREW.includes(s) && can("order.reassign")) add("reassign", () => showCandidates(order, "reassign"));
  const recallable = role() === "call_center" ? RECALL_FROM_CENTER : WITH_CREW;
  if (recallable.includes(s) && can("order.recall")) add("recall", (b) => recall(order, b), "danger");
  if (s === "finished" && can("order.follow_up")) add("follow_up", () => followUp(order), "primary");
  if (s === "followed_up" && can("order.close")) add("close", (b) => close(order, b), "primary");
  if (!bar.childElementCount) bar.append(h("p", { class: "note", text: t("detail.noActions") }));
  return bar;
}

function issue(order, button) {
  const centers = state.repairCenters;
  const { dialog, form, inputs } = formDialog(t("action.issue"), [{ name: "repair_center_id", label: t("detail.repairCenter"), type: "select", required: true, options: centers.map((d) => [d.id, d.name]) }], t("action.issue"));
  form.onsubmit = async (event) => {
    event.preventDefault();
    dialog.close("ok");
    await perform(button, async () => putOrder(await post(`/work-orders/${order.id}/issue`, { repair_center_id: Number(inputs.repair_center_id.value) })), t("done.issue", { n: order.number }));
  };
  dialog.showModal();
}

async function recall(order, button) {
  const answer = await confirmAction(t("confirm.recall", { n: order.number }), { reason: true });
  if (!answer.ok || !answer.reason) return;
  await perform(button, async () => putOrder(await post(`/work-orders/${order.id}/recall`, { reason: answer.reason })), t("done.recall", { n: order.number }));
}

async function close(order, button) {
  const answer = await confirmAction(t("confirm.close", { n: order.number }));
  if (!answer.ok) return;
  await perform(button, async () => putOrder(await post(`/work-orders/${order.id}/close`)), t("done.close", { n: order.number }));
}

function followUp(order) {
  const { dialog, form, inputs } = formDialog(t("action.follow_up"), [
    { name: "result", label: t("followUp.result"), type: "textarea", required: true, maxlength: 2000 },
    { name: "satisfied", label: t("followUp.satisfied"), type: "checkbox", value: true },
  ], t("common.save"));
  form.onsubmit = async (event) => {
    event.preventDefault();
    dialog.close("ok");
    await perform(null, async () => putOrder(await post(`/work-orders/${order.id}/follow-up`, { result: inputs.result.value, satisfied: inputs.satisfied.checked })), t("done.follow_up", { n: order.number }));
  };
  dialog.showModal();
}

async function showCandidates(order, mode) {
  choosing = { id: order.id, mode };
  const box = $("#candidates");
  loading(box);
  let list;
  try {
    list = await get(`/work-orders/${order.id}/candidates`);
  } catch (error) {
    failed(box, error, () => showCandidates(order, mode));
    return;
  }
  if (state.selected !== order.id) return;
  list = list.filter((c) => c.crew_id !== order.crew_id);
  if (!list.length) {
    clear(box, h("p", { class: "note", text: t("candidates.none") }));
    return;
  }
  const rows = list.map((c, index) => {
    const vehicle = [...(c.vehicles || [])].sort((a, b) => (a.distance_m ?? Infinity) - (b.distance_m ?? Infinity))[0];
    const button = h("button", { type: "button", class: index === 0 ? "primary" : "", text: t(mode === "dispatch" ? "action.dispatch" : "action.reassignTo") });
    button.addEventListener("click", () => dispatchTo(order, c, vehicle, mode, button));
    const eta = c.eta_min === null || c.eta_min === undefined ? "—" : t("candidates.min", { n: Math.round(c.eta_min) });
    const tr = h(
      "tr",
      { dataset: { crew: c.crew_id }, class: index === 0 ? "suggested" : "" },
      h("td", {}, h("strong", { text: c.crew_name }), index === 0 ? h("span", { class: "tag", text: t("candidates.suggested") }) : null, c.same_site ? h("span", { class: "tag", text: t("candidates.sameSite") }) : null),
      h("td", { text: vehicle?.plate ?? "—" }),
      h("td", { class: "num", text: `${fmtKm(c.distance_m)} · ${eta}` }),
      h("td", { class: "num", text: String(c.load) }),
      h("td", {}, button),
    );
    const showRoute = () => vehicle && emit("route", { order, vehicleId: vehicle.id });
    tr.addEventListener("mouseenter", showRoute);
    tr.addEventListener("focusin", showRoute);
    return tr;
  });
  const head = ["candidates.crew", "candidates.vehicle", "candidates.distanceEta", "candidates.load", ""];
  clear(box, h("h3", { text: t(mode === "dispatch" ? "candidates.title" : "candidates.reassignTitle") }), h("div", { class: "table-wrap" }, h("table", { class: "candidates" }, h("thead", {}, h("tr", {}, head.map((k) => h("th", { text: k ? t(k) : "" })))), h("tbody", {}, rows))));
  const best = list[0].vehicles?.[0];
  if (best) emit("route", { order, vehicleId: best.id });
}

async function dispatchTo(order, candidate, vehicle, mode, button) {
  const body = { crew_id: candidate.crew_id, ...(vehicle ? { vehicle_id: vehicle.id } : {}) };
  if (mode === "reassign") {
    const answer = await confirmAction(t("confirm.reassign", { n: order.number, crew: candidate.crew_name }), { reason: true });
    if (!answer.ok || !answer.reason) return;
    body.reason = answer.reason;
  }
  const path = mode === "dispatch" ? "dispatch" : "reassign";
  await perform(button, async () => putOrder(await post(`/work-orders/${order.id}/${path}`, body)), t(`done.${path}`, { n: order.number, crew: candidate.crew_name }));
}

function timeline(order) {
  const data = state.timelines.get(order.id)?.data;
  if (!data) return h("p", { class: "note loading", text: t("common.loading") });
  const points = ["A", "B", "C", "D", "E", "F", "G", "H"];
  const pointList = h("ol", { class: "points" }, points.map((p) => h("li", { class: data.points[p] ? "reached" : "" }, h("strong", { text: p }), " ", h("span", { text: data.points[p] ? fmtTime(data.points[p], "time") : "—" }))));
  const rows = [...data.segments, data.total].map((seg) => {
    const duration = h("td", { class: "num" });
    const percent = h("td", { class: "num" });
    const row = h("tr", { dataset: { segment: seg.segment, status: seg.status } }, h("th", { text: seg.segment === "AH" ? "A→H" : `${seg.segment[0]}→${seg.segment[1]}` }), h("td", { text: label("segStatus", seg.status) }), duration, h("td", { class: "num", text: fmtDuration(seg.limit_s) }), percent, h("td", { text: label("responsible", seg.responsible) }));
    liveCells.push({ seg, duration, percent, row });
    return row;
  });
  const table = h("div", { class: "table-wrap" }, h("table", { class: "timeline" }, h("thead", {}, h("tr", {}, ["timeline.segment", "timeline.status", "timeline.duration", "timeline.limit", "timeline.used", "timeline.responsible"].map((k) => h("th", { text: t(k) })))), h("tbody", {}, rows)));
  tick();
  return h("section", { class: "timeline-box" }, h("h3", { text: t("timeline.title") }), pointList, table);
}

function tick() {
  const now = Date.now();
  for (const cell of liveCells) {
    const { seg } = cell;
    let duration = seg.duration_s;
    if (seg.status === "running" && seg.started_at) duration = (now - new Date(seg.started_at).getTime()) / 1000;
    const percent = duration === null || duration === undefined ? null : (duration / seg.limit_s) * 100;
    cell.duration.textContent = fmtDuration(duration);
    cell.percent.textContent = percent === null ? "—" : `${Math.round(percent)} %`;
    // A finished segment keeps the server's verdict (exact limits, no rounding).
    cell.row.dataset.sla = seg.status === "done" && seg.color ? seg.color : colorOf(percent);
  }
}
