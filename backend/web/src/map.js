// The fleet map (Leaflet): Fieldline's own layers on a blank canvas, or over a configured basemap.
import L from "leaflet";
import "leaflet.markercluster";
import { PMTiles, TileType, leafletRasterLayer } from "pmtiles";
import { h } from "./dom.js";
import { etaMinutes, gcj02ToWgs84, haversineM, wgs84ToGcj02 } from "./geo.js";
import { get, getAll, offers } from "./api.js";
import { fmtAge, fmtKm, fmtTime, label, onLanguage, t } from "./i18n.js";
import { clockOf } from "./sla.js";
import { can, emit, on, state } from "./store.js";

const settings = document.body.dataset;
export const basemapTemplates = (settings.basemapUrl || "").split("|").filter(Boolean);
// A local PMTiles archive served by the app (read by byte ranges), when no URL is configured.
const pmtilesUrl = settings.basemapPmtiles || "";
export const hasBasemap = basemapTemplates.length > 0 || Boolean(pmtilesUrl);
const RASTER = new Set([TileType.Png, TileType.Jpeg, TileType.Webp, TileType.Avif]);
// One archive reader per page: its header and directories are fetched once for every map.
let archive = null;
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
const ACTIVE_OUTAGE = ["predicted", "confirmed", "partially_restored"];
// Water nodes drawn on the map, each kind its own layer (sources ride with the pipes).
const WATER_KINDS = { valve: "valves", hydrant: "hydrants", monitoring_point: "monitoring", source: "waterPipes" };
const CUSTOMER_PAGE = 5000;

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
    this.map = L.map(element, { zoomControl: interactive, attributionControl: hasBasemap, minZoom: 3, maxZoom: Number(settings.basemapMaxZoom || 18) });
    element.leafletMap = this.map; // the browser tests measure markers against the map's own projection
    if (this.map.attributionControl) this.map.attributionControl.setPrefix(false);
    basemapTemplates.forEach((template, index) => {
      L.tileLayer(template, {
        subdomains: settings.basemapSubdomains || "abc",
        maxZoom: Number(settings.basemapMaxZoom || 18),
        attribution: index === 0 ? settings.basemapAttribution || "" : "",
      }).addTo(this.map);
    });
    if (!basemapTemplates.length && pmtilesUrl) this.addPmtiles();
    if (!hasBasemap) element.classList.add("no-basemap");
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
      // Water assets from the network's GeoJSON layers, off at first.
      waterPipes: L.layerGroup(),
      valves: L.layerGroup(),
      hydrants: L.layerGroup(),
      monitoring: L.layerGroup(),
      // Customers at their premises' points, for the area in view (bbox), clustered; off at first.
      customers: L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 48, chunkedLoading: true, spiderfyOnMaxZoom: true }),
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
    this.map.on("moveend", () => this.scheduleCustomers());
    this.map.on("overlayadd", (event) => event.layer === this.layers.customers && this.loadCustomers());
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
    if (this.hasNetwork()) {
      names[t("map.waterPipes")] = this.layers.waterPipes;
      names[t("map.valves")] = this.layers.valves;
      names[t("map.hydrants")] = this.layers.hydrants;
      names[t("map.monitoring")] = this.layers.monitoring;
    }
    if (this.hasCustomers()) names[t("map.customers")] = this.layers.customers;
    return names;
  }

  // The raster archive as Leaflet's bottom layer, its tiles scaled past the extract's deepest zoom.
  async addPmtiles() {
    archive ||= new PMTiles(pmtilesUrl);
    let header;
    try {
      header = await archive.getHeader();
    } catch (error) {
      console.warn("basemap PMTiles unreadable", error); // the map works without it
      this.map.getContainer().classList.add("no-basemap");
      return;
    }
    if (!RASTER.has(header.tileType)) {
      console.warn("basemap PMTiles holds vector tiles: only raster archives are drawn");
      this.map.getContainer().classList.add("no-basemap");
      return;
    }
    const layer = leafletRasterLayer(archive, {
      attribution: settings.basemapAttribution || "",
      minNativeZoom: header.minZoom,
      maxNativeZoom: header.maxZoom,
      maxZoom: Number(settings.basemapMaxZoom || 18),
    });
    layer.addTo(this.map);
    layer.bringToBack();
    this.basemap = layer;
  }

  hasCustomers() {
    return can("archive.read") && offers("get", "/archive/layers/premises");
  }

  scheduleCustomers() {
    if (!this.map.hasLayer(this.layers.customers)) return;
    clearTimeout(this.customerTimer);
    this.customerTimer = setTimeout(() => this.loadCustomers(), 400);
  }

  // The visible area (plus a margin) in WGS-84, as the layer's bbox argument.
  viewBbox() {
    const bounds = this.map.getBounds().pad(0.25);
    const corner = (latlng) => (useGcj ? gcj02ToWgs84(latlng.lng, latlng.lat) : [latlng.lng, latlng.lat]);
    const [west, south] = corner(bounds.getSouthWest());
    const [east, north] = corner(bounds.getNorthEast());
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [clamp(west, -180, 180), clamp(south, -90, 90), clamp(east, -180, 180), clamp(north, -90, 90)].map((v) => v.toFixed(5)).join(",");
  }

  async loadCustomers() {
    if (!this.hasCustomers() || !this.map.hasLayer(this.layers.customers)) return;
    const ticket = (this.customerTicket = (this.customerTicket || 0) + 1);
    let page;
    try {
      page = await get("/archive/layers/premises", { bbox: this.viewBbox(), page_size: CUSTOMER_PAGE });
    } catch {
      return; // the layer keeps what it drew; the next move tries again
    }
    if (ticket !== this.customerTicket) return; // a later move asked again
    this.customers = page.features || [];
    this.customersTruncated = (page.numberMatched || 0) > this.customers.length;
    this.drawCustomers();
  }

  drawCustomers() {
    const group = this.layers.customers;
    group.clearLayers();
    const markers = (this.customers || [])
      .filter((f) => f.geometry?.type === "Point")
      .map((f) => {
        const [lon, lat] = f.geometry.coordinates;
        const p = f.properties || {};
        const icon = L.divIcon({ className: "customer-icon", html: h("span", { class: "customer-mark", dataset: { status: p.customer_status || "" } }), iconSize: [10, 10] });
        const marker = L.marker(project(lon, lat), { icon, keyboard: false, zIndexOffset: -300 });
        marker.bindTooltip(h("span", { text: [p.account_number, p.name, p.address].filter(Boolean).join(" · ") }), { className: "map-label" });
        return marker;
      });
    group.addLayers(markers);
    this.map.getContainer().dataset.customers = String(markers.length);
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
    for (const [key, layer] of [["waterPipes", "water-pipes"], ["waterNodes", "water-nodes"]]) {
      try {
        this.network[key] = await get(`/network/layers/${layer}`, { page_size: 5000 });
      } catch {
        this.network[key] = null;
      }
    }
    this.drawNetwork();
    if (this.hasOutages()) {
      // Outage changes arrive on the live feed; a full load at start and after a reconnect.
      on("outages-changed", () => this.loadOutages());
      on("outage", (outage) => this.putOutage(outage));
      // Planned outages start while the board is open: redraw (no request) now and then.
      setInterval(() => this.drawOutages(), 30_000);
      await this.loadOutages();
    }
  }

  putOutage(outage) {
    const others = this.outages.filter((o) => o.id !== outage.id);
    this.outages = ACTIVE_OUTAGE.includes(outage.status) ? [...others, outage] : others;
    this.drawOutages();
  }

  async loadOutages() {
    try {
      this.outages = await getAll("/outages", { active_only: true }, 500);
    } catch {
      return; // keep what is drawn; the feed's next outage event or a reconnect tries again
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
    // Styled by state: predicted dashed, confirmed solid, partly restored lighter.
    const options = (cls, outage, text) => ({
      coordsToLatLng: (c) => project(c[0], c[1]),
      style: () => ({ className: `${cls} outage-${outage.status}`, weight: cls === "outage-line" ? 6 : 2, ...(outage.status === "predicted" ? { dashArray: "8 8" } : {}) }),
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, { radius: 9, className: `${cls} outage-${outage.status}` }),
      onEachFeature: (feature, layer) => layer.bindTooltip(h("span", { text }), { className: "map-label" }),
    });
    for (const outage of this.outages) {
      if (new Date(outage.starts_at).getTime() > now) continue;
      const text = `${outage.number} · ${label("outageKind", outage.kind)} · ${label("outageStatus", outage.status)} · ${outage.reason} · ${t("quick.until")} ${fmtTime(outage.planned_end_at)}`;
      const line = lines.get(String(outage.line_id));
      // A partly restored line is still drawn where its areas are out, not along its length.
      if (line && outage.scope !== "area" && outage.status !== "partially_restored") L.geoJSON(line, options("outage-line", outage, text)).addTo(group);
      for (const area of outage.areas || []) {
        if (area.restored_at) continue;
        for (const source of [points, boundaries]) {
          const feature = source.get(String(area.area_id));
          if (feature?.geometry) L.geoJSON(feature, options("outage-area", outage, text)).addTo(group);
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
    this.drawWater();
  }

  // Pipes as lines (DN and material on hover); valves, hydrants, monitoring points and sources.
  drawWater() {
    for (const key of ["waterPipes", "valves", "hydrants", "monitoring"]) this.layers[key].clearLayers();
    const tooltip = (layer, text) => layer.bindTooltip(h("span", { text }), { className: "map-label" });
    if (this.network.waterPipes) {
      L.geoJSON(this.network.waterPipes, {
        coordsToLatLng: (c) => project(c[0], c[1]),
        style: (f) => ({ className: "water-pipe", weight: Math.max(2, Math.min(6, (f.properties?.diameter_mm || 200) / 100)) }),
        onEachFeature: (f, layer) => tooltip(layer, [f.properties?.code, f.properties?.diameter_mm ? `DN${f.properties.diameter_mm}` : "", f.properties?.material].filter(Boolean).join(" · ")),
      }).addTo(this.layers.waterPipes);
    }
    for (const f of this.network.waterNodes?.features || []) {
      const p = f.properties || {};
      const key = WATER_KINDS[p.kind];
      if (!key || f.geometry?.type !== "Point") continue;
      const [lon, lat] = f.geometry.coordinates;
      const closed = p.kind === "valve" && p.valve_open === false;
      const marker = L.circleMarker(project(lon, lat), { radius: p.kind === "source" ? 7 : 5, className: `water-node water-${p.kind}${closed ? " water-closed" : ""}` });
      tooltip(marker, [label("waterKind", p.kind), p.name, p.code, closed ? t("map.valveClosed") : ""].filter(Boolean).join(" · "));
      marker.addTo(this.layers[key]);
    }
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
    this.drawCustomers();
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
