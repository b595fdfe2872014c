// The order board: filters and search, urgency order, ticking countdowns, stale orders folded.
import { $, clear, h } from "./dom.js";
import { fmtDuration, fmtTime, label, onLanguage, t } from "./i18n.js";
import { clockOf } from "./sla.js";
import { crewName, emit, on, plateOf, state } from "./store.js";

const staleMs = Number(document.body.dataset.staleHours || 24) * 3600 * 1000;
const filters = { q: "", status: "", priority: "", specialty: "", region: "", color: "", crew: "" };
const rows = new Map(); // order id -> {item, clock spans}
const breachedSeen = new Set();

export function initOrders() {
  buildFilters();
  on("orders", render);
  on("timelines", render);
  on("registry", buildFilters);
  onLanguage(() => {
    buildFilters();
    render();
  });
  setInterval(tick, 1000);
}

function buildFilters() {
  const form = $("#filters");
  const options = (values, group) => [h("option", { value: "", text: t("filters.any") }), ...values.map((v) => h("option", { value: v, text: group ? label(group, v) : v }))];
  const orders = [...state.orders.values()];
  const distinct = (key) => [...new Set(orders.map((o) => o[key]).filter(Boolean))].sort();
  const select = (name, values, group) => {
    const el = h("select", { name, "aria-label": t(`filters.${name}`) }, options(values, group));
    el.value = filters[name];
    return h("label", {}, h("span", { text: t(`filters.${name}`) }), el);
  };
  const search = h("input", { type: "search", name: "q", placeholder: t("filters.search"), "aria-label": t("filters.search") });
  search.value = filters.q;
  const crews = [...state.crews.values()].map((c) => [c.id, c.name]);
  const crewSelect = h("select", { name: "crew", "aria-label": t("filters.crew") }, h("option", { value: "", text: t("filters.any") }), crews.map(([id, name]) => h("option", { value: id, text: name })));
  crewSelect.value = filters.crew;
  clear(
    form,
    search,
    select("status", ["new", "at_repair_center", "center_accepted", "dispatched", "delivered", "accepted", "en_route", "on_site", "finished", "followed_up"], "status"),
    select("priority", ["1", "2", "3"], "priority"),
    select("specialty", ["low_voltage", "meters", "10kv", "water"], "specialty"),
    select("region", distinct("region_code")),
    select("color", ["green", "yellow", "orange", "red"], "color"),
    h("label", {}, h("span", { text: t("filters.crew") }), crewSelect),
  );
  form.oninput = (event) => {
    filters[event.target.name] = event.target.value;
    render();
  };
  form.onsubmit = (event) => event.preventDefault();
}

function matches(order, clock) {
  const q = filters.q.trim().toLowerCase();
  if (q && ![order.number, order.address, order.caller_phone, order.caller_name, order.fault_type].some((v) => v && v.toLowerCase().includes(q))) return false;
  if (filters.status && order.status !== filters.status) return false;
  if (filters.priority && String(order.priority) !== filters.priority) return false;
  if (filters.specialty && order.specialty !== filters.specialty) return false;
  if (filters.region && order.region_code !== filters.region) return false;
  if (filters.color && clock.color !== filters.color) return false;
  if (filters.crew && String(order.crew_id) !== filters.crew) return false;
  return true;
}

export const isStale = (order, now = Date.now()) => now - new Date(order.created_at).getTime() > staleMs;

// Most urgent first: share of the running limit used, then priority, then age.
export function sortedOrders(now = Date.now()) {
  const list = [...state.orders.values()].map((order) => ({ order, clock: clockOf(order, now) }));
  list.sort((a, b) => b.clock.urgency - a.clock.urgency || a.order.priority - b.order.priority || a.order.created_at.localeCompare(b.order.created_at));
  return list;
}

function render() {
  const now = Date.now();
  const all = sortedOrders(now);
  const shown = all.filter(({ order, clock }) => matches(order, clock));
  const fresh = shown.filter(({ order }) => !isStale(order, now));
  const stale = shown.filter(({ order }) => isStale(order, now));
  rows.clear();
  clear($("#orders-list"), fresh.map(row));
  clear($("#stale-list"), stale.map(row));
  $("#stale-orders").hidden = stale.length === 0;
  $("#stale-summary").textContent = t("orders.stale", { n: stale.length });
  $("#orders-count").textContent = t("orders.count", { shown: shown.length, total: all.length });
  $("#orders-note").textContent = all.length === 0 ? t("orders.none") : shown.length === 0 ? t("orders.filteredOut") : "";
  tick();
}

function row({ order }) {
  const segment = h("span", { class: "clock" });
  const total = h("span", { class: "clock total" });
  const item = h(
    "li",
    { class: "order", dataset: { id: order.id, status: order.status } },
    h(
      "button",
      { type: "button", class: "order-button", "aria-pressed": state.selected === order.id ? "true" : "false", onclick: () => emit("select", order.id) },
      h("span", { class: "order-line" }, h("strong", { class: "number", text: order.number }), h("span", { class: `status status-${order.status}`, text: label("status", order.status) }), h("span", { class: `prio prio-${order.priority}`, text: label("priority", order.priority) })),
      h("span", { class: "order-line sub", text: `${order.fault_type} · ${order.address || "—"}` }),
      h("span", { class: "order-line sub" }, order.crew_id ? `${crewName(order.crew_id)} · ${plateOf(order.vehicle_id)}` : fmtTime(order.created_at), " ", segment, " ", total),
    ),
  );
  if (isStale(order)) item.append(h("span", { class: "stale-flag", text: t("orders.staleFlag") }));
  rows.set(order.id, { item, segment, total });
  return item;
}

// "GH: 12:30 left", or once the limit has passed "GH: 3:05 over".
const countdown = (key, seg, remaining) => t(remaining >= 0 ? `${key}Left` : `${key}Over`, { seg, left: fmtDuration(Math.abs(remaining)) });

function tick() {
  const now = Date.now();
  for (const [id, parts] of rows) {
    const order = state.orders.get(id);
    if (!order) continue;
    const clock = clockOf(order, now);
    parts.item.dataset.sla = clock.color;
    parts.segment.textContent = clock.segment?.running ? countdown("orders.segment", clock.segment.name, clock.segment.remaining) : "";
    parts.total.textContent = clock.total?.running ? countdown("orders.total", "A→H", clock.total.remaining) : "";
    parts.segment.dataset.sla = clock.segment?.color || "none";
    parts.total.dataset.sla = clock.total?.color || "none";
    // A breach that starts while watching is news; ones already breached at load are not.
    const key = `${id}:${clock.segment?.name}`;
    if (clock.breached && !breachedSeen.has(key) && !isStale(order, now)) {
      if (document.body.dataset.booted === "yes") emit("breach", { order, clock });
      breachedSeen.add(key);
    }
  }
  emit("tick", now);
}

export function markBootBreaches() {
  // Orders already breached when the board opens are not announced as new.
  const now = Date.now();
  for (const order of state.orders.values()) {
    const clock = clockOf(order, now);
    if (clock.breached) breachedSeen.add(`${order.id}:${clock.segment?.name}`);
  }
  document.body.dataset.booted = "yes";
}
