// The fleet map (Leaflet): Fieldline's own layers on a blank canvas, or over a configured basemap.
import L from "leaflet";
import "leaflet.markercluster";
import { h } from "./dom.js";
import { etaMinutes, gcj02ToWgs84, haversineM, wgs84ToGcj02 } from "./geo.js";
import { get, getAll, offers } from "./api.js";
import { fmtAge, fmtKm, fmtTime, label, onLanguage, t } from "./i18n.js";
import { clockOf } from "./sla.js";
import { can, emit, on, state } from "./store.js";

const settings = document.body.dataset;
export const basemapTemplates = (settings.basemapUrl || "").split("|").filter(Boolean);
export let useGcj = settings.basemapDatum === "gcj02";
const maps = [];

export function setGcj(value) {
  useGcj = value;
  for (const map of maps) map.reproject();
}

const project = (lon, lat) => {
  const [x, y] = useGcj ? wgs84ToGcj02(lon, lat) : [lon, lat];
  return L.latLng(y, x);
};

const WORKING = ["dispatched", "delivered", "accepted", "en_route", "on_site"];

// Vehicle state for colour and legend: offline/stale first, then busy (unavailable, or holding
// an order being worked) or free.
export function vehicleState(props) {
  if (!props.connected || props.liveness === "offline") return "offline";
  if (props.liveness === "stale") return "stale";
  const working = [...state.orders.values()].some((o) => o.vehicle_id === props.vehicle_id && WORKING.includes(o.status));
  return props.available && !working ? "free" : "busy";
}

export class FleetMap {
  constructor(element, { interactive = true } = {}) {
    this.interactive = interactive;
    this.map = L.map(element, { zoomControl: interactive, attributionControl: basemapTemplates.length > 0, minZoom: 3, maxZoom: Number(settings.basemapMaxZoom || 18) });
    element.leafletMap = this.map; // the browser tests measure markers against the map's own projection
    if (this.map.attributionControl) this.map.attributionControl.setPrefix(false);
    basemapTemplates.forEach((template, index) => {
      L.tileLayer(template, {
        subdomains: settings.basemapSubdomains || "abc",
        maxZoom: Number(settings.basemapMaxZoom || 18),
        attribution: index === 0 ? settings.basemapAttribution || "" : "",
      }).addTo(this.map);
    });
    if (!basemapTemplates.length) element.classList.add("no-basemap");
    L.control.scale({ imperial: false }).addTo(this.map);
    this.layers = {
      departments: L.layerGroup().addTo(this.map),
      orders: L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 36, spiderfyOnMaxZoom: true }).addTo(this.map),
      vehicles: L.layerGroup().addTo(this.map),
      routes: L.layerGroup().addTo(this.map),
      // The network model's layers (feeder lines, transformer areas, substations), off at first.
      lines: L.layerGroup(),
      areas: L.layerGroup(),
      substations: L.layerGroup(),
      // Active outages: the lines and areas they cut, highlighted over everything (on at first).
      outages: L.layerGroup(),
    };
    this.network = {};
    this.outages = [];
    if (this.hasOutages()) this.layers.outages.addTo(this.map);
    this.loadNetwork();
    if (interactive) {
      this.control = L.control.layers(null, this.overlayNames(), { collapsed: false }).addTo(this.map);
      onLanguage(() => {
        this.control.remove();
        this.control = L.control.layers(null, this.overlayNames(), { collapsed: false }).addTo(this.map);
      });
    }
    this.markers = { vehicles: new Map(), orders: new Map(), departments: new Map() };
    this.map.setView([30.27, 120.16], 12);
    this.fitted = false;
    this.map.on("zoomend moveend overlayadd", () => this.declutter());
    on("registry", () => this.drawDepartments());
    on("live", () => this.drawVehicles());
    on("position", (id) => this.moveVehicle(id));
    on("orders", () => {
      this.drawOrders();
      for (const marker of this.markers.vehicles.values()) this.styleVehicle(marker);
    });
    on("timelines", () => this.drawOrders());
    on("select", (id) => this.showRoute(id));
    on("route", (route) => this.drawRoute(route));
    maps.push(this);
  }

  overlayNames() {
    const names = {
      [t("map.departments")]: this.layers.departments,
      [t("map.orders")]: this.layers.orders,
      [t("map.vehicles")]: this.layers.vehicles,
      [t("map.routes")]: this.layers.routes,
    };
    if (this.hasNetwork()) {
      names[t("map.lines")] = this.layers.lines;
      names[t("map.areas")] = this.layers.areas;
      names[t("map.substations")] = this.layers.substations;
    }
    if (this.hasOutages()) names[t("map.outages")] = this.layers.outages;
    return names;
  }

  hasNetwork() {
    return can("network.read") && offers("get", "/network/layers/{layer}");
  }

  hasOutages() {
    return this.hasNetwork() && can("outage.read") && offers("get", "/outages");
  }

  async loadNetwork() {
    if (!this.hasNetwork()) return;
    // Areas are a point and/or a boundary: both are drawn (and both can show an outage).
    for (const [key, layer] of [["lines", "lines"], ["areas", "area-boundaries"], ["areaPoints", "areas"], ["substations", "substations"]]) {
      try {
        this.network[key] = await get(`/network/layers/${layer}`, { page_size: 5000 });
      } catch {
        this.network[key] = null; // the layer stays empty; the rest of the map works
      }
    }
    this.drawNetwork();
    if (this.hasOutages()) {
      on("outages-changed", () => this.loadOutages());
      // Outages are not on the live feed: a light poll keeps the layer current.
      setInterval(() => this.loadOutages(), 60_000);
      await this.loadOutages();
    }
  }

  async loadOutages() {
    try {
      this.outages = await getAll("/outages", { active_only: true }, 500);
    } catch {
      return; // keep what is drawn; the next poll tries again
    }
    this.drawOutages();
  }

  // Started outages only; the areas still cut (not yet restored) and the line they hang on.
  drawOutages() {
    const group = this.layers.outages;
    group.clearLayers();
    const now = Date.now();
    const byId = (collection) => new Map((collection?.features || []).map((f) => [String(f.id ?? f.properties?.id), f]));
    const lines = byId(this.network.lines);
    const points = byId(this.network.areaPoints);
    const boundaries = byId(this.network.areas);
    const options = (cls, text) => ({
      coordsToLatLng: (c) => project(c[0], c[1]),
      style: () => ({ className: cls, weight: cls === "outage-line" ? 6 : 2 }),
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, { radius: 9, className: cls }),
      onEachFeature: (feature, layer) => layer.bindTooltip(h("span", { text }), { className: "map-label" }),
    });
    for (const outage of this.outages) {
      if (new Date(outage.starts_at).getTime() > now) continue;
      const text = `${outage.number} · ${label("outageKind", outage.kind)} · ${outage.reason} · ${t("quick.until")} ${fmtTime(outage.planned_end_at)}`;
      const line = lines.get(String(outage.line_id));
      if (line && outage.scope !== "area") L.geoJSON(line, options("outage-line", text)).addTo(group);
      for (const area of outage.areas || []) {
        if (area.restored_at) continue;
        for (const source of [points, boundaries]) {
          const feature = source.get(String(area.area_id));
          if (feature?.geometry) L.geoJSON(feature, options("outage-area", text)).addTo(group);
        }
      }
    }
  }

  // GeoJSON through the display projection; names as hover tooltips (text, never markup).
  drawNetwork() {
    const options = (cls) => ({
      coordsToLatLng: (c) => project(c[0], c[1]),
      style: () => ({ className: cls, weight: cls === "net-line" ? 2 : 1 }),
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, { radius: 5, className: cls }),
      onEachFeature: (feature, layer) => {
        const p = feature.properties || {};
        layer.bindTooltip(h("span", { text: [p.name, p.code, p.voltage].filter(Boolean).join(" · ") }), { className: "map-label" });
      },
    });
    for (const key of ["lines", "areas", "substations"]) {
      this.layers[key].clearLayers();
      if (this.network[key]) L.geoJSON(this.network[key], options(`net-${key.slice(0, -1)}`)).addTo(this.layers[key]);
    }
    if (this.network.areaPoints) L.geoJSON(this.network.areaPoints, options("net-area")).addTo(this.layers.areas);
  }

  fit() {
    const points = [...this.markers.departments.values(), ...this.markers.vehicles.values()].map((m) => m.getLatLng());
    if (points.length && !this.fitted) {
      this.map.fitBounds(L.latLngBounds(points).pad(0.15), { maxZoom: 14 });
      this.fitted = true;
    }
  }

  drawDepartments() {
    this.layers.departments.clearLayers();
    this.markers.departments.clear();
    for (const dept of state.departments.values()) {
      if (!dept.site) continue;
      const icon = L.divIcon({ className: `dept-icon dept-${dept.kind}`, html: h("span", { class: "dept-mark" }), iconSize: [14, 14] });
      const marker = L.marker(project(dept.site.lon, dept.site.lat), { icon, keyboard: false, zIndexOffset: -500 });
      marker.bindTooltip(h("span", { text: dept.name }), { permanent: true, direction: "bottom", className: "map-label dept-label", offset: [0, 6] });
      marker.site = dept.site;
      marker.priority = 1;
      marker.addTo(this.layers.departments);
      this.markers.departments.set(dept.id, marker);
    }
    this.fit();
    this.declutter();
  }

  vehicleIcon(id) {
    const arrow = h("span", { class: "heading" });
    const dot = h("span", { class: "vehicle-dot" }, arrow);
    const holder = h("span", { class: "vehicle-mark" }, dot);
    return { icon: L.divIcon({ className: "vehicle-icon", html: holder, iconSize: [22, 22] }), dot, arrow, id };
  }

  styleVehicle(marker) {
    const live = state.live.get(marker.vehicleId);
    if (!live) return;
    const { props } = live;
    const vstate = vehicleState(props);
    marker.parts.dot.dataset.state = vstate;
    // Heading only when the terminal reported one; a null heading draws no arrow.
    const known = props.heading !== null && props.heading !== undefined && (props.speed ?? 1) > 0.5;
    marker.parts.arrow.hidden = !known;
    if (known) marker.parts.arrow.style.transform = `rotate(${props.heading}deg)`;
    marker.labelText.textContent = props.plate;
    marker.labelState.textContent = ` ${label("vstate", vstate)} · ${fmtAge(props.ts)}`;
  }

  drawVehicles() {
    for (const id of state.live.keys()) this.moveVehicle(id, false);
    this.fit();
  }

  // Move an existing marker smoothly to the new fix; create it only the first time.
  moveVehicle(id, animate = true) {
    const live = state.live.get(id);
    if (!live) return;
    const target = project(live.lon, live.lat);
    let marker = this.markers.vehicles.get(id);
    if (!marker) {
      const parts = this.vehicleIcon(id);
      marker = L.marker(target, { icon: parts.icon, zIndexOffset: 500, keyboard: false });
      marker.vehicleId = id;
      marker.parts = parts;
      marker.labelText = h("strong");
      marker.labelState = h("span", { class: "label-state" });
      marker.bindTooltip(h("span", {}, marker.labelText, marker.labelState), { permanent: true, direction: "right", className: "map-label vehicle-label", offset: [10, 0] });
      marker.priority = 3;
      marker.on("click", () => emit("vehicle-click", id));
      marker.addTo(this.layers.vehicles);
      this.markers.vehicles.set(id, marker);
    } else if (animate && this.map.hasLayer(marker)) {
      this.glide(marker, target);
    } else {
      marker.setLatLng(target);
    }
    this.styleVehicle(marker);
    if (this.route?.vehicleId === id) this.drawRoute(this.route);
    this.scheduleDeclutter();
  }

  glide(marker, target) {
    const from = marker.getLatLng();
    const started = performance.now();
    const duration = 900;
    marker.glideTarget = target;
    const step = (now) => {
      if (marker.glideTarget !== target) return; // a newer fix took over
      const f = Math.min(1, (now - started) / duration);
      marker.setLatLng(L.latLng(from.lat + (target.lat - from.lat) * f, from.lng + (target.lng - from.lng) * f));
      if (f < 1) requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  drawOrders() {
    const seen = new Set();
    for (const order of state.orders.values()) {
      if (!order.location) continue;
      seen.add(order.id);
      const clock = clockOf(order);
      let marker = this.markers.orders.get(order.id);
      if (!marker) {
        const mark = h("span", { class: "order-mark" });
        marker = L.marker(project(order.location.lon, order.location.lat), { icon: L.divIcon({ className: "order-icon", html: mark, iconSize: [16, 16] }), keyboard: false });
        marker.mark = mark;
        marker.labelText = h("span");
        marker.bindTooltip(marker.labelText, { permanent: true, direction: "top", className: "map-label order-label", offset: [0, -8] });
        marker.on("click", () => emit("select", order.id));
        marker.orderId = order.id;
        this.layers.orders.addLayer(marker);
        this.markers.orders.set(order.id, marker);
      }
      marker.site = order.location;
      marker.priority = 2 + Math.max(0, clock.urgency) / 100;
      marker.mark.dataset.sla = clock.color;
      marker.mark.dataset.status = order.status;
      marker.labelText.textContent = order.number;
    }
    for (const [id, marker] of this.markers.orders) {
      if (!seen.has(id)) {
        this.layers.orders.removeLayer(marker);
        this.markers.orders.delete(id);
      }
    }
    this.scheduleDeclutter();
  }

  reproject() {
    for (const marker of this.markers.departments.values()) marker.setLatLng(project(marker.site.lon, marker.site.lat));
    for (const [id, marker] of this.markers.orders) {
      const order = state.orders.get(id);
      if (order?.location) marker.setLatLng(project(order.location.lon, order.location.lat));
    }
    this.layers.orders.refreshClusters?.();
    for (const id of this.markers.vehicles.keys()) this.moveVehicle(id, false);
    if (this.route) this.drawRoute(this.route);
    this.drawNetwork();
    this.drawOutages();
  }

  // The selected order's assigned vehicle, or a candidate's vehicle, to the fault: line + ETA.
  showRoute(orderId) {
    const order = state.orders.get(orderId);
    const travelling = ["dispatched", "delivered", "accepted", "en_route"].includes(order?.status);
    this.drawRoute(travelling && order.vehicle_id ? { order, vehicleId: order.vehicle_id } : null);
  }

  drawRoute(route) {
    this.route = route; // redrawn as its vehicle moves
    this.layers.routes.clearLayers();
    if (!route || !route.order?.location) return;
    const live = state.live.get(route.vehicleId);
    if (!live) return;
    const { lon, lat } = route.order.location;
    const distance = haversineM(live.lon, live.lat, lon, lat);
    const line = L.polyline([project(live.lon, live.lat), project(lon, lat)], { className: "route-line", dashArray: "6 6", weight: 3 });
    line.bindTooltip(h("span", { text: t("map.routeEta", { plate: live.props.plate, km: fmtKm(distance), min: Math.round(etaMinutes(distance)) }) }), { permanent: true, className: "map-label route-label", direction: "center" });
    line.addTo(this.layers.routes);
  }

  scheduleDeclutter() {
    if (this.declutterPending) return;
    this.declutterPending = true;
    setTimeout(() => {
      this.declutterPending = false;
      this.declutter();
    }, 300);
  }

  // Hide labels that would overlap a more important one (vehicles, then urgent orders, sites).
  declutter() {
    const markers = [...this.markers.vehicles.values(), ...this.markers.orders.values(), ...this.markers.departments.values()];
    const labelled = markers
      .map((m) => ({ m, el: m.getTooltip()?.getElement() }))
      .filter(({ el }) => el && el.isConnected)
      .sort((a, b) => b.m.priority - a.m.priority);
    const kept = [];
    for (const { el } of labelled) {
      el.classList.remove("label-hidden");
      const box = el.getBoundingClientRect();
      const hit = kept.some((k) => box.left < k.right && box.right > k.left && box.top < k.bottom && box.bottom > k.top);
      if (hit) el.classList.add("label-hidden");
      else kept.push(box);
    }
  }

  // The next click on the map gives a WGS-84 point (e.g. a new order's location).
  pickOnce(callback) {
    const container = this.map.getContainer();
    container.classList.add("picking");
    this.map.once("click", (event) => {
      container.classList.remove("picking");
      const { lat, lng } = event.latlng;
      const [lon, wlat] = useGcj ? gcj02ToWgs84(lng, lat) : [lng, lat];
      callback(lon, wlat);
    });
  }

  invalidate() {
    this.map.invalidateSize();
  }
}
