// The big screen: read-only counts, today's compliance and the fleet map, refreshed on its own.
import { openAlerts } from "./alerts.js";
import { get } from "./api.js";
import { $, clear, h } from "./dom.js";
import { onLanguage, t, zoneDate, zoneMidnight } from "./i18n.js";
import { FleetMap, vehicleState } from "./map.js";
import { can, on, state } from "./store.js";

let root;
let map = null;
let visible = false;
let compliance = null;
const numbers = {};

export function initWall() {
  root = $("#view-wall");
  on("orders", () => visible && counts());
  on("alerts", () => visible && counts());
  on("position", () => visible && counts());
  onLanguage(() => visible && build());
  setInterval(() => visible && loadCompliance(), 60_000);
}

export function showWall() {
  visible = true;
  if (!map) build();
  map.invalidate();
  loadCompliance();
  counts();
}

export const hideWall = () => {
  visible = false;
};

function build() {
  const tiles = ["open", "waiting", "onTheWay", "onSite", "alerts", "free", "busy", "offline", "compliance"].map((key) => {
    numbers[key] = h("strong", { class: "wall-number", text: "—" });
    return h("div", { class: `wall-tile wall-${key}`, dataset: { tile: key } }, numbers[key], h("span", { text: t(`wall.${key}`) }));
  });
  const mapEl = map ? map.map.getContainer() : h("div", { class: "map wall-map" });
  const full = h("button", { type: "button", class: "wall-full", text: t("wall.fullscreen"), onclick: () => root.requestFullscreen?.() });
  clear(root, h("div", { class: "wall-tiles" }, tiles), mapEl, full);
  map ||= new FleetMap(mapEl, { interactive: false });
  map.drawDepartments();
  map.drawVehicles();
  map.drawOrders();
  counts();
}

function counts() {
  const orders = [...state.orders.values()];
  const by = (statuses) => orders.filter((o) => statuses.includes(o.status)).length;
  const vehicles = [...state.live.values()].map((v) => vehicleState(v.props));
  const set = (key, value) => numbers[key] && (numbers[key].textContent = String(value));
  set("open", orders.length);
  set("waiting", by(["new", "at_repair_center", "center_accepted"]));
  set("onTheWay", by(["dispatched", "delivered", "accepted", "en_route"]));
  set("onSite", by(["on_site"]));
  set("alerts", openAlerts().length);
  set("free", vehicles.filter((v) => v === "free").length);
  set("busy", vehicles.filter((v) => v === "busy").length);
  set("offline", vehicles.filter((v) => v === "offline" || v === "stale").length);
  set("compliance", compliance === null ? "—" : `${compliance} %`);
}

async function loadCompliance() {
  if (!can("report.read")) return;
  try {
    const sla = await get("/reports/sla-compliance", { from: zoneMidnight(zoneDate()), to: new Date(Date.now() + 60_000).toISOString() });
    const total = sla.segments.find((s) => s.segment === "AH") || null;
    const all = sla.segments.reduce((acc, s) => ({ count: acc.count + (s.segment === "AH" ? 0 : s.count), breached: acc.breached + (s.segment === "AH" ? 0 : s.breached) }), { count: 0, breached: 0 });
    const rate = total?.count ? total.breach_rate : all.count ? all.breached / all.count : null;
    compliance = rate === null ? null : Math.round((1 - rate) * 1000) / 10;
  } catch {
    compliance = null;
  }
  counts();
}
