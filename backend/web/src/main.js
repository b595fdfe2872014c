// Boot: log in, learn the caller's allowed actions, then build only the views that role may use.
import "leaflet/dist/leaflet.css";
import "leaflet.markercluster/dist/MarkerCluster.css";
import "leaflet.markercluster/dist/MarkerCluster.Default.css";
import "./console.css";
import { hasSession, loadSpec, login, logout, onSessionExpired } from "./api.js";
import { $, clear, h } from "./dom.js";
import { initAlerts } from "./alerts.js";
import { hideConflicts, initConflicts, showConflicts } from "./conflicts.js";
import { initDetail } from "./detail.js";
import { initLanguage, label, onLanguage, setLanguage, t } from "./i18n.js";
import { initLive, stopLive } from "./live.js";
import { FleetMap, hasBasemap, setGcj, useGcj } from "./map.js";
import { hideInspection, initInspection, inspectionAllowed, showInspection } from "./inspection.js";
import { initNewOrder } from "./neworder.js";
import { initOrders, markBootBreaches } from "./orders.js";
import { initQuickQuery } from "./quickquery.js";
import { hideReports, initReports, showReports } from "./reports.js";
import { hideRisk, initRisk, showRisk } from "./risk.js";
import { hideRoster, initRoster, showRoster } from "./roster.js";
import { can, loadAlerts, loadLive, loadMe, loadOrders, loadRegistry, state } from "./store.js";
import { errorText, toast } from "./ui.js";
import { hideWall, initWall, showWall } from "./wall.js";

const VIEWS = {
  board: { allowed: () => true },
  roster: { allowed: () => can("crew.availability"), show: showRoster, hide: hideRoster },
  reports: { allowed: () => can("report.read"), show: showReports, hide: hideReports },
  conflicts: { allowed: () => can("conflict.resolve"), show: showConflicts, hide: hideConflicts },
  risk: { allowed: () => can("risk.read"), show: showRisk, hide: hideRisk },
  inspection: { allowed: inspectionAllowed, show: showInspection, hide: hideInspection },
  wall: { allowed: () => can("tracking.read"), show: showWall, hide: hideWall },
};
let boardMap = null;

async function boot() {
  initLanguage();
  $("#lang-select").addEventListener("change", (e) => setLanguage(e.target.value));
  $("#login-form").addEventListener("submit", submitLogin);
  $("#logout-button").addEventListener("click", doLogout);
  onSessionExpired(() => {
    stopLive();
    showLogin(t("auth.expired"));
  });
  await loadSpec();
  if (hasSession()) await start();
  else showLogin();
  document.body.dataset.ready = "yes";
}

function showLogin(message = "") {
  $("#login-view").hidden = false;
  $("#app-view").hidden = true;
  $("#views-nav").hidden = true;
  $("#logout-button").hidden = true;
  $("#whoami").textContent = "";
  $("#login-error").textContent = message;
}

async function submitLogin(event) {
  event.preventDefault();
  const button = event.target.querySelector("button[type=submit]");
  button.disabled = true;
  $("#login-error").textContent = "";
  try {
    await login($("#login-username").value.trim(), $("#login-password").value);
    $("#login-password").value = "";
    await start();
  } catch (error) {
    $("#login-error").textContent = error.status === 401 ? t("auth.wrong") : errorText(error);
  } finally {
    button.disabled = false;
  }
}

async function doLogout() {
  stopLive();
  try {
    await logout();
  } finally {
    location.replace("/");
  }
}

async function start() {
  try {
    await loadMe();
  } catch (error) {
    showLogin(error.status === 401 ? t("auth.expired") : errorText(error));
    return;
  }
  $("#login-view").hidden = true;
  $("#app-view").hidden = false;
  $("#logout-button").hidden = false;
  const who = () => ($("#whoami").textContent = `${state.me.label} · ${label("role", state.me.role)}`);
  who();
  onLanguage(who);
  document.body.dataset.role = state.me.role || "";
  boardMap = new FleetMap($("#map"));
  const gcj = $("#gcj-toggle");
  gcj.checked = useGcj;
  gcj.addEventListener("change", () => setGcj(gcj.checked));
  gcj.closest("label").title = hasBasemap ? "" : t("map.gcjHint");
  initOrders();
  initDetail();
  initAlerts();
  initNewOrder((callback) => boardMap.pickOnce(callback));
  initRoster();
  initReports();
  initWall();
  initConflicts();
  initRisk();
  initInspection();
  initQuickQuery();
  legend();
  onLanguage(legend);
  nav();
  onLanguage(nav);
  window.addEventListener("hashchange", route);
  $("#orders-note").textContent = t("orders.loading");
  try {
    await loadRegistry();
    await Promise.all([loadLive(), loadOrders(), loadAlerts()]);
  } catch (error) {
    $("#orders-note").textContent = `${t("common.failed")}: ${errorText(error)}`;
    toast("error", `${t("common.failed")}: ${errorText(error)}`);
  }
  markBootBreaches();
  initLive();
  route();
}

function nav() {
  const el = $("#views-nav");
  el.hidden = false;
  const current = currentView();
  clear(el, Object.entries(VIEWS).filter(([, v]) => v.allowed()).map(([name]) => h("a", { href: `#${name}`, dataset: { view: name }, "aria-current": name === current ? "page" : false, text: t(`view.${name}`) })));
}

function currentView() {
  const name = location.hash.slice(1);
  return VIEWS[name]?.allowed() ? name : "board";
}

function route() {
  const current = currentView();
  for (const [name, view] of Object.entries(VIEWS)) {
    const section = $(`#view-${name}`);
    const active = name === current;
    if (!active && !section.hidden) view.hide?.();
    section.hidden = !active;
  }
  document.body.dataset.view = current;
  for (const link of document.querySelectorAll("#views-nav a")) link.setAttribute("aria-current", link.dataset.view === current ? "page" : "false");
  if (current === "board") boardMap?.invalidate();
  VIEWS[current].show?.();
}

function legend() {
  const item = (cls, key) => h("li", {}, h("span", { class: `sym ${cls}`, "aria-hidden": "true" }), " ", t(key));
  clear(
    $("#legend"),
    item("sym-dept", "legend.department"),
    ["free", "busy", "stale", "offline"].map((s) => h("li", {}, h("span", { class: "sym sym-vehicle", dataset: { state: s }, "aria-hidden": "true" }), " ", label("vstate", s))),
    ["green", "yellow", "orange", "red"].map((c) => h("li", {}, h("span", { class: "sym sym-order", dataset: { sla: c }, "aria-hidden": "true" }), " ", t(`legend.sla.${c}`))),
    item("sym-route", "legend.route"),
    can("outage.read") ? ["predicted", "confirmed", "partially_restored"].map((s) => h("li", {}, h("span", { class: "sym sym-outage", dataset: { status: s }, "aria-hidden": "true" }), " ", `${t("map.outages")} · ${label("outageStatus", s)}`)) : null,
  );
}

boot().catch((error) => toast("error", errorText(error)));
