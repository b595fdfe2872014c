// The live feed (SSE): positions, vehicle states, order events and alerts, told as a readable log.
import { streamUrl } from "./api.js";
import { $, clear, h } from "./dom.js";
import { fmtTime, label, onLanguage, t } from "./i18n.js";
import { can, emit, loadAlerts, loadOrders, on, orderLabel, plateOf, putPosition, refreshOrder, refreshTimeline, state } from "./store.js";

const POINTS = ["A", "B", "C", "center_accepted", "D", "E", "F", "G", "H", "finished", "recalled", "follow_up", "closed"];
const seenEvents = new Set();
const opened = Date.now();
const log = [];
let source = null;
let retry = null;
let hasOrderEvents = false;

export function initLive() {
  on("log", (entry) => addLog(entry));
  onLanguage(renderLog);
  status("off");
  if (can("tracking.read")) connect();
  // A slow full refresh as a safety net (the feed carries every order change); crews, who
  // have no feed, refresh more often.
  setInterval(() => loadOrders().catch(() => {}), can("tracking.read") ? 60_000 : 10_000);
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
  source.onopen = () => {
    status("live");
    // A connection starts from now: fetch what changed while the feed was away, and on the
    // first one what changed between the page's first load and the stream opening.
    Promise.all([loadOrders(), loadAlerts()]).catch(() => {});
    // Outages likewise: the map's first load may predate the stream.
    emit("outages-changed");
  };
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
  source.addEventListener("order_event", (e) => {
    const data = JSON.parse(e.data);
    orderEvent(data);
    const order = state.orders.get(data.order_id);
    // Older servers sent no `order` events: a timing point then means the order changed too.
    if (!hasOrderEvents && order) orderChanged(data);
    // A backfilled point leaves the order as it was (no `order` event follows), but its
    // timeline moved all the same; any other point comes with an `order` event that does it.
    else if (order && data.backfilled) refreshTimeline(order).catch(() => {});
  });
  source.addEventListener("order", (e) => {
    hasOrderEvents = true;
    orderChanged(JSON.parse(e.data));
  });
  // An outage as it is now (set, confirmed, partly or wholly restored, closed): the map redraws.
  source.addEventListener("outage", (e) => {
    const outage = JSON.parse(e.data);
    emit("outage", outage);
    addLog({ kind: "outage", text: t("log.outage", { n: outage.number, status: label("outageStatus", outage.status) }) });
  });
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
  const key = data.id || `${data.order_id}:${data.point}:${data.occurred_at}`;
  // What was recorded before this page opened is history, not news (no replay on reconnect).
  const recorded = new Date(data.recorded_at || data.occurred_at).getTime();
  if (seenEvents.has(key) || recorded < opened - 60_000) return;
  seenEvents.add(key);
  const known = POINTS.includes(data.point) ? `log.${data.point}` : "log.point";
  const text = t(known, { plate: plateOf(data.vehicle_id), n: orderLabel(data.order_id), point: data.point });
  addLog({ kind: "order", text, at: data.occurred_at });
}

// An order changed (status, crew, vehicle, round): fetch it whole, new orders included.
const pending = new Set();
function orderChanged(data) {
  const id = data.order_id || data.id;
  if (!id || pending.has(id)) return;
  pending.add(id);
  refreshOrder(id)
    .catch(() => {})
    .finally(() => pending.delete(id));
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
