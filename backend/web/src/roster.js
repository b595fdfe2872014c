// Vehicles and crews: state, age of the last fix, battery, orders; stand-down, standby, queues.
import { get, put } from "./api.js";
import { $, clear, h } from "./dom.js";
import { fmtAge, fmtTime, label, onLanguage, t } from "./i18n.js";
import { vehicleState } from "./map.js";
import { can, deptName, on, plateOf, role, state } from "./store.js";
import { confirmAction, failed, loading, perform } from "./ui.js";

let root;
let visible = false;

export function initRoster() {
  root = $("#view-roster");
  on("registry", () => visible && render());
  on("orders", () => visible && render());
  on("vehicle-click", (id) => visible && mine(state.vehicles.get(id)?.crew_id) && openQueue(id));
  onLanguage(() => visible && render());
  setInterval(() => visible && render(), 10_000);
}

export async function showRoster() {
  visible = true;
  loading(root);
  try {
    await loadAvailability();
    render();
  } catch (error) {
    failed(root, error, showRoster);
  }
}

export const hideRoster = () => {
  visible = false;
};

async function loadAvailability() {
  const results = await Promise.all([...state.crews.keys()].map((id) => get(`/crews/${id}/availability`).catch(() => null)));
  for (const status of results) if (status) state.availability.set(status.crew_id, status);
}

const ordersOf = (key, id) => [...state.orders.values()].filter((o) => o[key] === id);
// A crew member acts on its own crew and vehicle only; dispatchers on every one they see.
const mine = (crewId) => role() !== "crew" || crewId === state.me.crew_id;

function render() {
  const vehicles = [...state.vehicles.values()].sort((a, b) => a.plate.localeCompare(b.plate));
  const vehicleRows = vehicles.map((v) => {
    const live = state.live.get(v.id)?.props;
    const vstate = live ? vehicleState(live) : "unknown";
    const queue = mine(v.crew_id) ? h("button", { type: "button", text: t("roster.queue"), onclick: () => openQueue(v.id) }) : null;
    return h(
      "tr",
      { dataset: { vehicle: v.id } },
      h("th", { text: v.plate }),
      h("td", { text: v.crew_id ? state.crews.get(v.crew_id)?.name ?? "—" : "—" }),
      h("td", { text: label("specialty", v.specialty) }),
      h("td", {}, h("span", { class: "vstate", dataset: { state: vstate }, text: label("vstate", vstate) })),
      h("td", { text: live ? fmtAge(live.ts) : "—" }),
      h("td", { class: "num", text: live?.batt ?? "—" }),
      h("td", { class: "num", text: String(ordersOf("vehicle_id", v.id).length) }),
      h("td", {}, queue),
    );
  });
  const crews = [...state.crews.values()].sort((a, b) => a.name.localeCompare(b.name));
  const crewRows = crews.map((c) => {
    const status = state.availability.get(c.id);
    const available = status ? status.available : true;
    const cell = h("td");
    if (can("crew.availability") && mine(c.id)) {
      const button = h("button", { type: "button", class: available ? "" : "primary", text: t(available ? "roster.standDown" : "roster.standby") });
      button.onclick = () => setAvailability(c, !available, button);
      cell.append(button);
    }
    return h(
      "tr",
      { dataset: { crew: c.id } },
      h("th", { text: c.name }),
      h("td", { text: deptName(c.department_id) }),
      h("td", { text: (c.work_types || []).map((w) => label("specialty", w)).join(", ") }),
      h("td", {}, h("span", { class: `avail avail-${available ? "yes" : "no"}`, text: available ? t("roster.onStandby") : t("roster.stoodDown", { reason: status?.reason || "" }) })),
      h("td", { text: status ? fmtTime(status.since) : "—" }),
      h("td", { class: "num", text: String(ordersOf("crew_id", c.id).length) }),
      h("td", {}, members(c.members || [])),
      cell,
    );
  });
  const table = (heads, rows) => h("div", { class: "table-wrap" }, h("table", { class: "roster" }, h("thead", {}, h("tr", {}, heads.map((k) => h("th", { text: k ? t(k) : "" })))), h("tbody", {}, rows)));
  clear(
    root,
    h("section", { class: "panel" }, h("h2", { text: t("roster.vehicles") }), table(["roster.plate", "roster.crew", "roster.specialty", "roster.state", "roster.lastFix", "roster.battery", "roster.orders", ""], vehicleRows), h("div", { id: "queue-box" })),
    h("section", { class: "panel" }, h("h2", { text: t("roster.crews") }), table(["roster.crew", "roster.department", "roster.workTypes", "roster.availability", "roster.since", "roster.orders", "roster.members", ""], crewRows)),
  );
}

// Each member by name (the one who receives orders on the terminal marked), not a count.
function members(list) {
  if (!list.length) return "—";
  return h(
    "ul",
    { class: "members" },
    list.map((m) =>
      h("li", { class: "member", dataset: { receives: m.receives_orders ? "yes" : "no" }, title: m.receives_orders ? t("roster.receives") : "" }, h("span", { text: m.name || `#${m.user_id}` }), m.receives_orders ? h("span", { class: "receives", "aria-label": t("roster.receives"), text: " ★" }) : null),
    ),
  );
}

async function setAvailability(crew, available, button) {
  let reason = null;
  if (!available) {
    const answer = await confirmAction(t("confirm.standDown", { crew: crew.name }), { reason: true });
    if (!answer.ok || !answer.reason) return;
    reason = answer.reason;
  }
  const status = await perform(button, () => put(`/crews/${crew.id}/availability`, { available, ...(reason ? { reason } : {}) }), t(available ? "done.standby" : "done.standDown", { crew: crew.name }));
  if (status) {
    state.availability.set(status.crew_id, status);
    render();
  }
}

async function openQueue(vehicleId) {
  const box = $("#queue-box");
  if (!box) return;
  loading(box);
  let queue;
  try {
    queue = await get(`/vehicles/${vehicleId}/queue`);
  } catch (error) {
    failed(box, error, () => openQueue(vehicleId));
    return;
  }
  const order = queue.map((o) => o.id);
  const draw = () => {
    const items = order.map((id, index) => {
      const o = queue.find((q) => q.id === id);
      const up = h("button", { type: "button", "aria-label": t("roster.up"), text: "↑", disabled: index === 0 || !can("queue.reorder") });
      const down = h("button", { type: "button", "aria-label": t("roster.down"), text: "↓", disabled: index === order.length - 1 || !can("queue.reorder") });
      up.onclick = () => move(index, -1);
      down.onclick = () => move(index, 1);
      return h("li", { dataset: { id } }, h("strong", { text: o.number }), ` ${label("status", o.status)} · ${o.address || ""} `, up, down);
    });
    const save = h("button", { type: "button", class: "primary", text: t("common.save"), hidden: !can("queue.reorder") || order.length < 2 });
    save.onclick = () =>
      perform(save, async () => {
        queue = await put(`/vehicles/${vehicleId}/queue`, { order_ids: order });
      }, t("done.queue", { plate: plateOf(vehicleId) }));
    clear(box, h("h3", { text: t("roster.queueOf", { plate: plateOf(vehicleId) }) }), order.length ? h("ol", { class: "queue" }, items) : h("p", { class: "note", text: t("roster.queueEmpty") }), save);
  };
  const move = (index, delta) => {
    const [id] = order.splice(index, 1);
    order.splice(index + delta, 0, id);
    draw();
  };
  draw();
}
