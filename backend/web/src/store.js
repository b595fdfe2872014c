// The console's shared state and its change notifications (one topic per kind of record).
import { get, getAll, offers } from "./api.js";

export const state = {
  me: null,
  actions: new Set(),
  departments: new Map(),
  vehicles: new Map(), // registry records by id
  crews: new Map(),
  live: new Map(), // vehicle_id -> {lon, lat, props}
  orders: new Map(),
  timelines: new Map(), // order id -> {version, data}
  alerts: new Map(),
  availability: new Map(), // crew_id -> status
  repairCenters: [], // where an order may be issued (the call center sees beyond its department)
  selected: null,
};

const listeners = {};
export function on(topic, fn) {
  (listeners[topic] ||= []).push(fn);
}
export function emit(topic, detail) {
  for (const fn of listeners[topic] || []) fn(detail);
}

export const can = (action) => state.actions.has(action);
export const role = () => state.me?.role;

export async function loadMe() {
  state.me = await get("/auth/me");
  state.actions = new Set(state.me.actions || []);
}

export async function loadRegistry() {
  const [departments, vehicles, crews] = await Promise.all([getAll("/departments"), getAll("/vehicles"), getAll("/crews")]);
  state.departments = new Map(departments.map((d) => [d.id, d]));
  state.vehicles = new Map(vehicles.map((v) => [v.id, v]));
  state.crews = new Map(crews.map((c) => [c.id, c]));
  state.repairCenters = offers("get", "/repair-centers") && can("order.issue") ? await getAll("/repair-centers") : departments.filter((d) => d.kind === "repair_center");
  for (const center of state.repairCenters) if (!state.departments.has(center.id)) state.departments.set(center.id, { ...center, kind: "repair_center" });
  emit("registry");
}

export async function loadLive() {
  if (!can("tracking.read")) return;
  const collection = await get("/tracking/vehicles");
  for (const feature of collection.features || []) putPosition(feature);
  emit("live");
}

// A position from the list or the feed; returns true when the vehicle is new to the map.
export function putPosition(feature) {
  const props = feature.properties || {};
  const [lon, lat] = feature.geometry?.coordinates || [];
  if (!Number.isFinite(lon) || !Number.isFinite(lat)) return false;
  const known = state.live.has(props.vehicle_id);
  const previous = state.live.get(props.vehicle_id);
  // Fixes may arrive late (coverage outages): never move a vehicle back in time.
  if (previous && previous.props.ts && props.ts && props.ts < previous.props.ts) return false;
  state.live.set(props.vehicle_id, { lon, lat, props: { ...(previous?.props || {}), ...props } });
  return !known;
}

export async function loadOrders() {
  const orders = await getAll("/work-orders", { open: true });
  const seen = new Set();
  for (const order of orders) {
    seen.add(order.id);
    state.orders.set(order.id, order);
  }
  for (const id of [...state.orders.keys()]) if (!seen.has(id)) state.orders.delete(id);
  emit("orders");
  await loadTimelines(orders);
}

export function putOrder(order) {
  // The board holds open orders only: a closed one leaves it.
  if (order.status === "closed") state.orders.delete(order.id);
  else state.orders.set(order.id, order);
  emit("orders");
  emit("order", order);
  loadTimelines([order]);
}

export async function refreshOrder(id) {
  const order = await get(`/work-orders/${id}`);
  putOrder(order);
  return order;
}

// A timing point that left the order as it was (a late, backfilled one) still moves its
// timeline: fetch it again whatever the version.
export function refreshTimeline(order) {
  state.timelines.delete(order.id);
  return loadTimelines([order]);
}

// Timelines of changed orders only (keyed by version), a few at a time.
export async function loadTimelines(orders) {
  const stale = orders.filter((o) => state.timelines.get(o.id)?.version !== o.version);
  let index = 0;
  const worker = async () => {
    while (index < stale.length) {
      const order = stale[index++];
      try {
        const data = await get(`/work-orders/${order.id}/timeline`);
        state.timelines.set(order.id, { version: order.version, data, at: Date.now() });
      } catch {
        /* shown as unknown; the next change retries */
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  if (stale.length) emit("timelines");
}

export async function loadAlerts() {
  if (!can("alert.read")) return;
  const alerts = await getAll("/alerts", { open: true }, 300);
  state.alerts = new Map(alerts.map((a) => [a.id, a]));
  emit("alerts");
}

export const deptName = (id) => state.departments.get(id)?.name ?? (id ? `#${id}` : "—");
export const crewName = (id) => state.crews.get(id)?.name ?? (id ? `#${id}` : "—");
export const plateOf = (id) => state.vehicles.get(id)?.plate ?? state.live.get(id)?.props.plate ?? (id ? `#${id}` : "—");
export const orderLabel = (id) => state.orders.get(id)?.number ?? String(id).slice(0, 8);
