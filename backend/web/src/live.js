// The live feed (SSE): positions, vehicle states, order events and alerts, told as a readable log.
import { streamUrl } from "./api.js";
import { $, clear, h } from "./dom.js";
import { fmtTime, label, onLanguage, t } from "./i18n.js";
import { can, emit, loadAlerts, loadOrders, on, orderLabel, plateOf, putPosition, refreshOrder, state } from "./store.js";

const POINT_KEYS = { E: "log.E", F: "log.F", G: "log.G", H: "log.H", finished: "log.finished" };
const seenEvents = new Set();
const opened = Date.now();
const log = [];
let source = null;
let retry = null;
let lastStatus = null;

export function initLive() {
  on("log", (entry) => addLog(entry));
  on("orders", noteStatusChanges);
  onLanguage(renderLog);
  status("off");
  if (can("tracking.read")) connect();
  // Order lists also refresh on a slow timer: the feed carries terminal events, not every desk action.
  setInterval(() => loadOrders().catch(() => {}), can("tracking.read") ? 20_000 : 10_000);
  if (can("alert.read")) setInterval(() => loadAlerts().catch(() => {}), 30_000);
}

export function stopLive() {
  source?.close();
  clearTimeout(retry);
}

function status(kind) {
  const el = $("#feed-status");
  el.dataset.state = kind;
  el.textContent = t(`feed.${kind}`);
}

async function connect() {
  source?.close();
  try {
    source = new EventSource(await streamUrl("/tracking/feed"));
  } catch {
    scheduleReconnect();
    return;
  }
  source.onopen = () => status("live");
  source.onerror = () => {
    status("reconnecting");
    scheduleReconnect();
  };
  source.addEventListener("position", (e) => {
    const feature = JSON.parse(e.data);
    const added = putPosition(feature);
    if (added) emit("live");
    else emit("position", feature.properties.vehicle_id);
  });
  source.addEventListener("state", (e) => {
    const data = JSON.parse(e.data);
    const entry = state.live.get(data.vehicle_id);
    if (entry) Object.assign(entry.props, data);
    emit("position", data.vehicle_id);
    addLog({ kind: "state", text: t(data.connected && data.liveness !== "offline" ? "log.online" : "log.offline", { plate: data.plate }) });
  });
  source.addEventListener("order_event", (e) => orderEvent(JSON.parse(e.data)));
  for (const name of ["order", "order_state", "order_status"]) source.addEventListener(name, (e) => orderChanged(JSON.parse(e.data)));
  source.addEventListener("alert", (e) => {
    const alert = JSON.parse(e.data);
    // A reconnect repeats the open alerts: only an id never seen before is news.
    if (state.alerts.has(alert.id)) return;
    state.alerts.set(alert.id, alert);
    emit("alerts");
    emit("alert", alert);
  });
  source.addEventListener("end", () => {
    source.close();
    scheduleReconnect(100);
  });
}

function scheduleReconnect(delay = 3000) {
  source?.close();
  clearTimeout(retry);
  // A new URL each time: stream tickets are single use, tokens get refreshed.
  retry = setTimeout(connect, delay);
}

function orderEvent(data) {
  const key = `${data.order_id}:${data.point}:${data.occurred_at}`;
  // Checkpoints from before this page opened are history, not news (no replay on reconnect).
  if (seenEvents.has(key) || new Date(data.occurred_at).getTime() < opened - 60_000) return;
  seenEvents.add(key);
  const text = t(POINT_KEYS[data.point] || "log.point", { plate: plateOf(data.vehicle_id), n: orderLabel(data.order_id), point: data.point });
  addLog({ kind: "order", text, at: data.occurred_at });
  if (state.orders.has(data.order_id)) refreshOrder(data.order_id).catch(() => {});
}

function orderChanged(data) {
  const id = data.order_id || data.id;
  if (id) refreshOrder(id).catch(() => {});
}

function noteStatusChanges() {
  const now = new Map([...state.orders.values()].map((o) => [o.id, o.status]));
  if (lastStatus) {
    for (const [id, status] of now) {
      const before = lastStatus.get(id);
      if (before && before !== status) addLog({ kind: "status", text: t("log.status", { n: orderLabel(id), status: label("status", status) }) });
      if (!before) addLog({ kind: "status", text: t("log.newOrder", { n: orderLabel(id) }) });
    }
  }
  lastStatus = now;
}

function addLog(entry) {
  log.unshift({ at: entry.at || new Date().toISOString(), ...entry });
  log.length = Math.min(log.length, 200);
  renderLog();
}

function renderLog() {
  clear($("#event-log"), log.map((e) => h("li", { class: `log-${e.kind}` }, h("time", { text: fmtTime(e.at, "time") }), " ", h("span", { text: e.text }))));
  status($("#feed-status").dataset.state || "off");
}
