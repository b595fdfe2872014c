// Fieldline dispatcher console: vanilla ES2020, no build step, no external resources.
// Every piece of server data reaches the page through textContent or SVG attributes, never as
// parsed markup, so a hostile address or caller name cannot inject HTML.
"use strict";

(() => {
  const TOKEN_KEY = "fieldline.accessToken";
  const SPEC_URL = "/api/openapi.json";
  const REFRESH_MS = 30000;
  const POSITIONS_MS = 10000;
  const TIMELINE_LIMIT = 60;
  const OPEN_ORDER_STATES = new Set([
    "new", "at_repair_center", "center_accepted", "dispatched", "delivered", "accepted",
    "en_route", "on_site",
  ]);
  const DISPATCHABLE = new Set(["at_repair_center", "center_accepted"]);
  const BUSY_STATES = new Set(["dispatched", "delivered", "accepted", "en_route", "on_site"]);
  const SEGMENTS = ["AB", "BC", "CD", "DE", "EF", "FG", "GH"];
  const COLOR_RANK = { green: 1, yellow: 2, orange: 3, red: 4 };
  const COLOR_TEXT = {
    green: "on time", yellow: "over half", orange: "near limit", red: "breached",
  };

  // Endpoints are looked up in the OpenAPI document, so a route a colleague has not shipped
  // yet shows as "not available" instead of a failing request. `fallback` is used only when
  // the document itself cannot be read.
  const ROUTES = {
    orders: { method: "get", patterns: [/^\/api\/v1\/(work-?)?orders$/], fallback: "/api/v1/orders" },
    order: { method: "get", patterns: [/^\/api\/v1\/(work-?)?orders\/\{[^}/]+\}$/], fallback: "/api/v1/orders/{order_id}" },
    timeline: { method: "get", patterns: [/^\/api\/v1\/(work-?)?orders\/\{[^}/]+\}\/(timeline|sla)$/], fallback: "/api/v1/orders/{order_id}/timeline" },
    candidates: { method: "get", patterns: [/^\/api\/v1\/(work-?)?orders\/\{[^}/]+\}\/candidates$/], fallback: "/api/v1/orders/{order_id}/candidates" },
    nearest: {
      method: "get",
      patterns: [/^\/api\/v1\/(work-?)?orders\/\{[^}/]+\}\/nearest[\w-]*$/, /^\/api\/v1\/[\w/-]*nearest[\w/-]*$/],
      fallback: null,
    },
    dispatch: { method: "post", patterns: [/^\/api\/v1\/(work-?)?orders\/\{[^}/]+\}\/dispatch$/], fallback: "/api/v1/orders/{order_id}/dispatch" },
    alerts: { method: "get", patterns: [/^\/api\/v1\/(dispatch\/)?(alerts|escalations)$/], fallback: "/api/v1/alerts" },
    ack: {
      method: "post",
      patterns: [/^\/api\/v1\/(dispatch\/)?(alerts|escalations)\/\{[^}/]+\}\/(ack|acknowledge)$/],
      fallback: "/api/v1/alerts/{alert_id}/ack",
    },
    positions: {
      method: "get",
      patterns: [
        /^\/api\/v1\/tracking\/(vehicles|positions|states|live|latest)(\/(live|latest|states?|positions))?$/,
        /^\/api\/v1\/vehicles\/(live|positions|states?|latest)$/,
        /^\/api\/v1\/(live|positions)(\/latest)?$/,
      ],
      fallback: null,
    },
    conflicts: { method: "get", patterns: [/^\/api\/v1\/sync\/conflicts$/], fallback: "/api/v1/sync/conflicts" },
    resolve: {
      method: "post",
      patterns: [/^\/api\/v1\/sync\/conflicts\/\{[^}/]+\}\/resolve$/],
      fallback: "/api/v1/sync/conflicts/{conflict_id}/resolve",
    },
  };
  const FEED_PATTERN = /^\/api\/v1\/[\w/-]*(stream|feed|live-events|events\/live)$/;
  const FEED_EVENTS = [
    "message", "position", "positions", "vehicle", "vehicle_state", "state", "liveness",
    "order", "order_event", "timing", "timing_event", "status", "dispatch", "assignment",
    "alert", "alerts", "escalation", "breach", "conflict", "availability", "checkpoint",
  ];

  const state = {
    token: null,
    refreshToken: null, // memory only: a reload keeps the access token, not the refresh token
    refreshing: null,
    actor: null,
    spec: null,
    specLoaded: false,
    departments: [],
    vehicles: new Map(), // id -> vehicle row from /vehicles
    crews: new Map(), // id -> crew row from /crews
    live: new Map(), // vehicle id -> latest position/state
    orders: [],
    timelines: new Map(), // order id -> timeline
    alerts: [],
    selected: null,
    feeds: [],
    timers: [],
    view: { scale: 1, tx: 0, ty: 0 },
    frame: null, // projection of the data's bounding box
    markers: [],
    pending: new Map(),
  };

  const $ = (id) => document.getElementById(id);
  // The inline <svg> is parsed into the SVG namespace: reuse it rather than spell it out.
  const SVG_NS = $("map").namespaceURI;
  const timezone = document.body.dataset.timezone || "UTC";

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    applyProps(node, props);
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, props, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    applyProps(node, props);
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function applyProps(node, props) {
    if (!props) return;
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.setAttribute("class", value);
      else if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2).toLowerCase(), value);
      } else node.setAttribute(key, value === true ? "" : String(value));
    }
  }

  function clear(node) {
    while (node.firstChild) node.firstChild.remove();
  }

  function setNote(id, text) {
    const node = $(id);
    if (node) node.textContent = text || "";
  }

  function fmtTime(value) {
    if (!value) return "—";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    try {
      return date.toLocaleString(undefined, { timeZone: timezone, hour12: false });
    } catch (_err) {
      return date.toISOString();
    }
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "—";
    const s = Math.max(0, Math.round(Number(seconds)));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = s % 60;
    return h ? `${h}h ${m}m` : `${m}m ${String(rest).padStart(2, "0")}s`;
  }

  function fmtDistance(metres) {
    const m = Number(metres);
    if (!Number.isFinite(m)) return "—";
    return m >= 1000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m)} m`;
  }

  // ---------------------------------------------------------------- HTTP

  class ApiError extends Error {
    constructor(status, problem, fallback) {
      const detail = (problem && (problem.detail || problem.title || problem.message)) || fallback;
      super(detail || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  async function request(method, url, body, retried = false) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiError(0, null, `Network error: ${err.message}`);
    }
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try {
        data = await response.json();
      } catch (_err) {
        data = null;
      }
    }
    if (response.status === 401 && state.token && !url.startsWith("/api/v1/auth/")) {
      if (!retried && (await refreshAccess())) return request(method, url, body, true);
      logout("Your session has expired; log in again.");
    }
    if (!response.ok) throw new ApiError(response.status, data, response.statusText);
    return { data, headers: response.headers };
  }

  // A GeoJSON point feature becomes its properties plus lon/lat; anything else is unchanged.
  function flatten(item) {
    if (!item || item.type !== "Feature" || !item.geometry) return item;
    const coords = item.geometry.type === "Point" ? item.geometry.coordinates || [] : [];
    const props = item.properties || {};
    return { ...props, lon: Number(coords[0]), lat: Number(coords[1]), id: props.id ?? item.id };
  }

  function listOf(data, ...keys) {
    if (Array.isArray(data)) return data;
    if (!data || typeof data !== "object") return [];
    if (data.type === "FeatureCollection") return listOf(data.features).map(flatten);
    for (const key of [...keys, "items", "results", "data"]) {
      if (Array.isArray(data[key])) return data[key];
    }
    return [];
  }

  // ---------------------------------------------------------------- endpoint discovery

  async function loadSpec() {
    try {
      const { data } = await request("GET", SPEC_URL);
      state.spec = data && data.paths ? data : null;
    } catch (_err) {
      state.spec = null;
    }
    state.specLoaded = true;
  }

  function operation(path, method) {
    const item = state.spec && state.spec.paths[path];
    return item ? item[method] || null : null;
  }

  function findPaths(method, patterns) {
    if (!state.spec) return [];
    const found = [];
    for (const pattern of patterns) {
      for (const path of Object.keys(state.spec.paths)) {
        if (pattern.test(path) && operation(path, method) && !found.includes(path)) found.push(path);
      }
    }
    return found;
  }

  function route(name) {
    const def = ROUTES[name];
    if (!state.spec) return def.fallback;
    return findPaths(def.method, def.patterns)[0] || null;
  }

  function acceptsQuery(path, method, name) {
    const op = operation(path, method);
    if (!op) return false;
    const params = [...(op.parameters || []), ...((state.spec.paths[path] || {}).parameters || [])];
    return params.some((p) => p.in === "query" && p.name === name);
  }

  // Fill `{placeholders}` from `params` (a single placeholder takes `params.id`), then add the
  // query parameters the operation declares; undeclared ones are dropped, since the API
  // refuses unknown query fields.
  function buildUrl(path, method, params = {}, query = {}) {
    const placeholders = path.match(/\{[^}]+\}/g) || [];
    let url = path;
    for (const holder of placeholders) {
      const key = holder.slice(1, -1);
      const value = key in params ? params[key] : params.id;
      url = url.replace(holder, encodeURIComponent(String(value)));
    }
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined || value === null) continue;
      if (state.spec && !acceptsQuery(path, method, key)) continue;
      search.set(key, String(value));
    }
    const qs = search.toString();
    return qs ? `${url}?${qs}` : url;
  }

  async function fetchAll(path, query = {}) {
    const items = [];
    const paged = state.spec && acceptsQuery(path, "get", "page_size");
    for (let page = 1; page <= 20; page += 1) {
      const q = paged ? { ...query, page, page_size: 100 } : query;
      const { data, headers } = await request("GET", buildUrl(path, "get", {}, q));
      items.push(...listOf(data, "orders", "alerts", "conflicts", "vehicles", "positions", "states"));
      if (!paged) break;
      let meta = null;
      try {
        meta = JSON.parse(headers.get("X-Pagination") || "null");
      } catch (_err) {
        meta = null;
      }
      if (!meta || !meta.total_pages || page >= meta.total_pages) break;
    }
    return items;
  }

  // ---------------------------------------------------------------- login

  function keepToken(data) {
    state.token = data.access_token;
    sessionStorage.setItem(TOKEN_KEY, data.access_token);
    if (data.refresh_token) state.refreshToken = data.refresh_token;
    const seconds = Number(data.expires_in);
    if (state.refreshToken && Number.isFinite(seconds) && seconds > 60) {
      clearTimeout(state.pending.get("refresh"));
      state.pending.set("refresh", setTimeout(refreshAccess, seconds * 800));
    }
  }

  // Renew the access token with the refresh token; several callers share one attempt.
  function refreshAccess() {
    if (!state.refreshToken) return Promise.resolve(false);
    if (!state.refreshing) {
      state.refreshing = fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { Authorization: `Bearer ${state.refreshToken}`, Accept: "application/json" },
        credentials: "same-origin",
      }).then(async (response) => {
        if (!response.ok) return false;
        const data = await response.json();
        if (!data || !data.access_token || !state.token) return false;
        keepToken(data);
        return true;
      }).catch(() => false).finally(() => {
        state.refreshing = null;
      });
    }
    return state.refreshing;
  }

  async function login(event) {
    event.preventDefault();
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    setNote("login-error", "");
    try {
      const { data } = await request("POST", "/api/v1/auth/login", { username, password });
      if (!data || !data.access_token) throw new ApiError(0, null, "No token in the reply.");
      keepToken(data);
      $("login-password").value = "";
      await start(data.access_token);
    } catch (err) {
      setNote("login-error", err.message);
    }
  }

  function logout(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.refreshToken = null;
    clearTimeout(state.pending.get("refresh"));
    for (const timer of state.timers) clearInterval(timer);
    state.timers = [];
    for (const feed of state.feeds) feed.close();
    state.feeds = [];
    $("console-view").hidden = true;
    $("login-view").hidden = false;
    $("logout-button").hidden = true;
    $("refresh-button").hidden = true;
    $("whoami").textContent = "";
    setFeedStatus("off");
    setNote("login-error", message || "");
    $("login-username").focus();
  }

  async function start(token) {
    state.token = token;
    try {
      const { data } = await request("GET", "/api/v1/auth/me");
      state.actor = data;
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        logout(err.status === 403 ? err.message : "Your session has expired; log in again.");
        return;
      }
      state.actor = null;
    }
    if (!state.token) return;
    $("login-view").hidden = true;
    $("console-view").hidden = false;
    $("logout-button").hidden = false;
    $("refresh-button").hidden = false;
    const who = state.actor ? `${state.actor.label || ""} (${state.actor.role || state.actor.kind || ""})` : "";
    $("whoami").textContent = who;
    await loadSpec();
    await refreshAll();
    openFeeds();
    state.timers.push(setInterval(refreshAll, REFRESH_MS));
    state.timers.push(setInterval(() => {
      if (!state.feeds.some((f) => f.readyState === EventSource.OPEN)) loadPositions().then(drawMap);
    }, POSITIONS_MS));
  }

  // ---------------------------------------------------------------- data loading

  async function refreshAll() {
    await Promise.all([loadDepartments(), loadVehicles(), loadCrews(), loadPositions(), loadOrders(), loadAlerts(), loadConflicts()]);
    drawMap();
    renderQueue();
    renderAlerts();
    await loadTimelines();
    renderQueue();
    drawMap();
    if (state.selected) renderDetail();
  }

  async function loadDepartments() {
    try {
      state.departments = await fetchAll("/api/v1/departments");
    } catch (err) {
      state.departments = [];
      setNote("map-note", `Departments: ${err.message}`);
    }
  }

  async function loadVehicles() {
    try {
      const rows = await fetchAll("/api/v1/vehicles");
      state.vehicles = new Map(rows.map((v) => [Number(v.id), v]));
    } catch (_err) {
      state.vehicles = new Map();
    }
  }

  async function loadCrews() {
    try {
      const rows = await fetchAll("/api/v1/crews");
      state.crews = new Map(rows.map((c) => [Number(c.id), c]));
    } catch (_err) {
      state.crews = new Map();
    }
  }

  function positionOf(row) {
    if (!row || typeof row !== "object") return null;
    const source = row.position || row.location || row.last_position || row;
    const lat = Number(source.lat ?? source.latitude);
    const lon = Number(source.lon ?? source.lng ?? source.longitude);
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) return null;
    return { lat, lon };
  }

  function liveVehicleId(row) {
    const id = row.vehicle_id ?? (row.vehicle && row.vehicle.id) ?? row.id;
    return id === undefined || id === null ? null : Number(id);
  }

  function mergeLive(input) {
    const row = flatten(input);
    if (!row || typeof row !== "object") return false;
    const id = liveVehicleId(row);
    if (id === null || Number.isNaN(id)) return false;
    const previous = state.live.get(id) || {};
    state.live.set(id, { ...previous, ...row, ...(positionOf(row) || {}) });
    return true;
  }

  async function loadPositions() {
    const path = route("positions");
    if (!path) {
      setNote("map-note", "Live vehicle positions: not available.");
      return;
    }
    try {
      const rows = await fetchAll(path);
      for (const row of rows) mergeLive(row);
      setNote("map-note", "");
    } catch (err) {
      setNote("map-note", `Live vehicle positions: ${err.status === 404 ? "not available" : err.message}`);
    }
  }

  async function loadOrders() {
    const path = route("orders");
    if (!path) {
      state.orders = [];
      setNote("queue-note", "Order queue: not available.");
      return;
    }
    try {
      const rows = await fetchAll(path, { open: true });
      state.orders = rows.filter((o) => !o.status || OPEN_ORDER_STATES.has(o.status));
      state.orders.sort((a, b) => (a.priority ?? 2) - (b.priority ?? 2)
        || String(a.created_at || "").localeCompare(String(b.created_at || "")));
      setNote("queue-note", state.orders.length ? "" : "No open orders.");
    } catch (err) {
      state.orders = [];
      setNote("queue-note", `Order queue: ${err.status === 404 ? "not available" : err.message}`);
    }
  }

  async function loadTimeline(orderId) {
    const path = route("timeline");
    if (!path) return null;
    try {
      const { data } = await request("GET", buildUrl(path, "get", { id: orderId }));
      state.timelines.set(String(orderId), data);
      return data;
    } catch (_err) {
      return null;
    }
  }

  async function loadTimelines() {
    if (!route("timeline")) return;
    const ids = state.orders.slice(0, TIMELINE_LIMIT).map((o) => String(o.id));
    const live = new Set(ids);
    for (const key of [...state.timelines.keys()]) if (!live.has(key)) state.timelines.delete(key);
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next];
        next += 1;
        await loadTimeline(id);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  async function loadAlerts() {
    const path = route("alerts");
    if (!path) {
      state.alerts = null;
      return;
    }
    try {
      const rows = await fetchAll(path, { open: true });
      state.alerts = rows.filter((a) => !a.acknowledged_at);
    } catch (err) {
      state.alerts = err.status === 404 ? null : err;
    }
  }

  async function loadConflicts() {
    const list = $("conflicts-list");
    const path = route("conflicts");
    clear(list);
    if (!path) {
      setNote("conflicts-note", "Sync conflicts: not available.");
      $("conflicts-count").textContent = "";
      return;
    }
    try {
      const rows = await fetchAll(path, { status: "open" });
      const open = rows.filter((c) => !c.status || c.status === "open");
      $("conflicts-count").textContent = `${open.length} open`;
      setNote("conflicts-note", open.length ? "" : "No open conflicts.");
      for (const conflict of open) list.append(conflictItem(conflict));
    } catch (err) {
      $("conflicts-count").textContent = "";
      setNote("conflicts-note", `Sync conflicts: ${err.status === 404 ? "not available" : err.message}`);
    }
  }

  // ---------------------------------------------------------------- SLA timeline

  function segmentsOf(timeline) {
    if (!timeline) return [];
    return listOf(timeline, "segments");
  }

  function worstColor(timeline) {
    let worst = null;
    const all = [...segmentsOf(timeline), timeline && timeline.total].filter(Boolean);
    for (const seg of all) {
      if (seg.color && (!worst || COLOR_RANK[seg.color] > COLOR_RANK[worst])) worst = seg.color;
    }
    return worst;
  }

  function segmentLabel(seg) {
    const name = seg.segment || "?";
    const pct = seg.percent_used === null || seg.percent_used === undefined ? null : Math.round(seg.percent_used);
    const color = seg.color ? COLOR_TEXT[seg.color] || seg.color : null;
    const parts = [name, seg.status || "pending"];
    if (pct !== null) parts.push(`${pct}% of limit`);
    if (color) parts.push(`${seg.color}: ${color}`);
    if (seg.clock_inconsistent) parts.push("device clock corrected");
    return parts.join(", ");
  }

  function shortPercent(value) {
    const pct = Math.round(Number(value));
    return pct > 999 ? ">999%" : `${pct}%`;
  }

  function timelineBar(timeline) {
    const bar = el("div", { className: "timeline", role: "list", "aria-label": "SLA timeline A to H" });
    const byName = new Map(segmentsOf(timeline).map((s) => [s.segment, s]));
    for (const name of SEGMENTS) {
      const seg = byName.get(name) || { segment: name, status: timeline ? "pending" : "unknown" };
      const pct = seg.percent_used === null || seg.percent_used === undefined ? "" : shortPercent(seg.percent_used);
      const mark = seg.breached || seg.color === "red" ? "!" : seg.status === "done" ? "✓" : seg.status === "running" ? "…" : "";
      bar.append(el("span", {
        className: `seg sla-${seg.color || seg.status || "pending"}`,
        role: "listitem",
        title: segmentLabel(seg),
        "aria-label": segmentLabel(seg),
      }, el("span", { className: "seg-name", text: name }), el("span", { className: "seg-value", text: `${pct}${mark}` })));
    }
    const total = timeline && timeline.total;
    if (total) {
      bar.append(el("span", {
        className: `seg seg-total sla-${total.color || total.status || "pending"}`,
        role: "listitem",
        title: segmentLabel({ ...total, segment: "A→H" }),
        "aria-label": segmentLabel({ ...total, segment: "A to H total" }),
      }, el("span", { className: "seg-name", text: "A→H" }),
      el("span", { className: "seg-value", text: total.percent_used == null ? "" : shortPercent(total.percent_used) })));
    }
    return bar;
  }

  // ---------------------------------------------------------------- order queue

  function orderTitle(order) {
    return order.number || String(order.id).slice(0, 8);
  }

  function renderQueue() {
    const list = $("queue-list");
    // Rebuilding the list must not throw a keyboard user out of it.
    const focused = document.activeElement && list.contains(document.activeElement)
      ? document.activeElement.getAttribute("data-order-id") : null;
    clear(list);
    $("queue-count").textContent = route("orders") ? `${state.orders.length} open` : "";
    for (const order of state.orders) {
      const timeline = state.timelines.get(String(order.id));
      const worst = worstColor(timeline);
      const selected = state.selected && String(state.selected) === String(order.id);
      const button = el("button", {
        type: "button",
        className: `order-row${selected ? " selected" : ""}`,
        "aria-pressed": selected ? "true" : "false",
        "data-order-id": String(order.id),
        onclick: () => selectOrder(order.id),
      },
      el("span", { className: "order-line" },
        el("strong", { text: orderTitle(order) }),
        el("span", { className: `pill prio-${order.priority ?? 2}`, text: `P${order.priority ?? 2}` }),
        el("span", { className: "pill", text: (order.status || "").replaceAll("_", " ") }),
        worst ? el("span", { className: `pill sla-${worst}`, text: `SLA ${worst}` }) : null),
      el("span", { className: "order-sub", text: [order.fault_type, order.specialty, order.address].filter(Boolean).join(" · ") }));
      list.append(el("li", null, button, timelineBar(timeline)));
      if (focused && focused === String(order.id)) button.focus();
    }
  }

  // ---------------------------------------------------------------- order detail

  async function selectOrder(orderId) {
    state.selected = String(orderId);
    renderQueue();
    drawMap();
    await renderDetail(true);
    $("detail-title").focus?.();
  }

  function findOrder(orderId) {
    return state.orders.find((o) => String(o.id) === String(orderId)) || null;
  }

  async function renderDetail(fetchFresh) {
    const body = $("detail-body");
    const orderId = state.selected;
    if (!orderId) return;
    $("detail-close").hidden = false;
    let order = findOrder(orderId);
    const orderPath = route("order");
    if (fetchFresh && orderPath) {
      try {
        const { data } = await request("GET", buildUrl(orderPath, "get", { id: orderId }));
        if (data) order = data;
      } catch (err) {
        if (!order) {
          clear(body);
          body.append(el("p", { className: "error", text: `Order: ${err.message}` }));
          return;
        }
      }
    }
    if (!order) return;
    const timeline = fetchFresh ? (await loadTimeline(orderId)) || state.timelines.get(orderId) : state.timelines.get(orderId);
    if (state.selected !== orderId) return; // another order was picked meanwhile
    clear(body);
    $("detail-title").textContent = `Order ${orderTitle(order)}`;
    const loc = positionOf(order.location || {});
    const fields = [
      ["Status", (order.status || "").replaceAll("_", " ")],
      ["Priority", order.priority],
      ["Type", order.order_type],
      ["Fault", order.fault_type],
      ["Specialty", order.specialty],
      ["Voltage", order.voltage_level],
      ["Address", order.address],
      ["Location", loc ? `${loc.lat.toFixed(5)}, ${loc.lon.toFixed(5)}` : null],
      ["Region", order.region_code],
      ["Caller", [order.caller_name, order.caller_phone].filter(Boolean).join(" ")],
      ["Crew", order.crew_id ? crewLabel(order.crew_id) : null],
      ["Vehicle", order.vehicle_id ? vehicleLabel(order.vehicle_id) : null],
      ["Created", fmtTime(order.created_at)],
      ["Description", order.description],
    ];
    const dl = el("dl", { className: "facts" });
    for (const [label, value] of fields) {
      if (value === null || value === undefined || value === "") continue;
      dl.append(el("dt", { text: label }), el("dd", { text: String(value) }));
    }
    body.append(dl);
    body.append(el("h3", { text: "Timing points A–H" }));
    if (route("timeline")) {
      body.append(timelineBar(timeline));
      if (timeline) body.append(timelineTable(timeline));
    } else {
      body.append(el("p", { className: "note", text: "SLA timeline: not available." }));
    }
    const dispatchable = DISPATCHABLE.has(order.status);
    const crews = el("div", { className: "crews" }, el("p", { className: "note", text: "Loading crews…" }));
    body.append(el("h3", { text: dispatchable ? "Dispatch to a crew" : "Crews" }));
    if (!dispatchable) {
      body.append(el("p", { className: "note", text: `The order is ${(order.status || "").replaceAll("_", " ")}: it cannot be dispatched now.` }));
    }
    body.append(crews);
    const message = el("p", { className: "note", role: "status", "aria-live": "polite" });
    body.append(message);
    renderCrews(order, crews, message, dispatchable);
  }

  function timelineTable(timeline) {
    const table = el("table", { className: "timeline-table" });
    table.append(el("caption", { className: "visually-hidden", text: "Segment durations against limits" }));
    table.append(el("thead", null, el("tr", null, ["Segment", "Status", "Took", "Limit", "Used", "SLA", "Responsible"].map((h) => el("th", { scope: "col", text: h })))));
    const tbody = el("tbody");
    for (const seg of [...segmentsOf(timeline), timeline.total ? { ...timeline.total, segment: "A→H" } : null].filter(Boolean)) {
      tbody.append(el("tr", null,
        el("th", { scope: "row", text: seg.segment }),
        el("td", { text: seg.status || "—" }),
        el("td", { text: fmtDuration(seg.duration_s) }),
        el("td", { text: fmtDuration(seg.limit_s) }),
        el("td", { text: seg.percent_used == null ? "—" : `${Math.round(seg.percent_used)}%` }),
        el("td", null, seg.color ? el("span", { className: `pill sla-${seg.color}`, text: `${seg.color} – ${COLOR_TEXT[seg.color] || ""}` }) : "—"),
        el("td", { text: (seg.responsible || "—").replaceAll("_", " ") })));
    }
    table.append(tbody);
    return table;
  }

  function crewLabel(crewId) {
    const crew = state.crews.get(Number(crewId));
    return crew && crew.name ? `${crew.name} (#${crewId})` : `Crew #${crewId}`;
  }

  function vehicleLabel(vehicleId) {
    const v = state.vehicles.get(Number(vehicleId));
    return v && v.plate ? `${v.plate} (#${vehicleId})` : `Vehicle #${vehicleId}`;
  }

  async function renderCrews(order, container, message, dispatchable) {
    const candidatesPath = route("candidates");
    const nearestPath = route("nearest");
    const [candidates, nearest] = await Promise.all([
      candidatesPath ? request("GET", buildUrl(candidatesPath, "get", { id: order.id })).then((r) => listOf(r.data, "candidates", "crews"), (e) => e) : null,
      nearestPath ? loadNearest(nearestPath, order).catch((e) => e) : null,
    ]);
    clear(container);
    if (candidates === null) container.append(el("p", { className: "note", text: "Candidate crews: not available." }));
    else if (candidates instanceof Error) container.append(el("p", { className: "error", text: `Candidate crews: ${candidates.message}` }));
    else if (!candidates.length) container.append(el("p", { className: "note", text: "No available crew with the right specialty in this region." }));
    else {
      const list = el("ul", { className: "item-list", "aria-label": "Candidate crews, least loaded first" });
      for (const crew of candidates) {
        const vehicles = listOf(crew.vehicles);
        const select = el("select", { "aria-label": `Vehicle for ${crew.crew_name || `crew ${crew.crew_id}`}` },
          el("option", { value: "", text: "crew's vehicle (auto)" }),
          vehicles.map((v) => el("option", { value: v.id, text: v.plate || `#${v.id}` })));
        const button = el("button", { type: "button", disabled: !dispatchable }, "Dispatch");
        button.addEventListener("click", () => dispatch(order, crew.crew_id, select.value ? Number(select.value) : null, message, button));
        list.append(el("li", { className: "item" },
          el("div", { className: "item-head" },
            el("strong", { text: crew.crew_name || `Crew #${crew.crew_id}` }),
            el("span", { className: "pill", text: `load ${crew.load ?? 0}` }),
            crew.same_site ? el("span", { className: "pill", text: "same site" }) : null,
            crew.distance_m != null ? el("span", { className: "pill", text: fmtDistance(crew.distance_m) }) : null),
          el("div", { className: "item-actions" }, select, button)));
      }
      container.append(el("h4", { text: "Candidate crews" }), list);
    }
    if (nearest === null) container.append(el("p", { className: "note", text: "Nearest vehicles: not available." }));
    else if (nearest instanceof Error) container.append(el("p", { className: "error", text: `Nearest vehicles: ${nearest.message}` }));
    else {
      const list = el("ol", { className: "item-list", "aria-label": "Nearest vehicles" });
      for (const row of nearest) {
        const vid = liveVehicleId(row);
        const vehicle = state.vehicles.get(vid) || {};
        const crewId = row.crew_id ?? vehicle.crew_id;
        const eta = row.eta_minutes ?? row.eta_min ?? row.eta;
        const button = crewId != null
          ? el("button", { type: "button", disabled: !dispatchable }, "Dispatch")
          : null;
        if (button) button.addEventListener("click", () => dispatch(order, Number(crewId), vid, message, button));
        list.append(el("li", { className: "item" },
          el("div", { className: "item-head" },
            el("strong", { text: row.plate || vehicle.plate || `Vehicle #${vid}` }),
            el("span", { className: "pill", text: fmtDistance(row.distance_m ?? row.distance) }),
            eta != null ? el("span", { className: "pill", text: `ETA ${Math.round(Number(eta))} min` }) : null,
            row.liveness || row.state ? el("span", { className: "pill", text: row.liveness || row.state }) : null,
            row.available === false ? el("span", { className: "pill", text: "unavailable" }) : null),
          button ? el("div", { className: "item-actions" }, button) : null));
      }
      container.append(el("h4", { text: "Nearest vehicles" }), nearest.length ? list : el("p", { className: "note", text: "No vehicle positions near the fault." }));
    }
  }

  async function loadNearest(path, order) {
    const loc = positionOf(order.location || {});
    const query = { limit: 5, specialty: order.specialty };
    if (loc) Object.assign(query, { lat: loc.lat, lon: loc.lon });
    if (!path.includes("{") && !loc) return [];
    const { data } = await request("GET", buildUrl(path, "get", { id: order.id }, query));
    return listOf(data, "vehicles", "nearest", "candidates");
  }

  async function dispatch(order, crewId, vehicleId, message, button) {
    const path = route("dispatch");
    if (!path) {
      message.textContent = "Dispatch: not available.";
      return;
    }
    button.disabled = true;
    message.textContent = "Dispatching…";
    try {
      const body = { crew_id: Number(crewId) };
      if (vehicleId) body.vehicle_id = Number(vehicleId);
      await request("POST", buildUrl(path, "post", { id: order.id }), body);
      message.textContent = `Order ${orderTitle(order)} dispatched to ${crewLabel(crewId)}.`;
      await loadOrders();
      renderQueue();
      drawMap();
      await renderDetail(true);
    } catch (err) {
      message.textContent = `Dispatch failed: ${err.message}`;
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- alerts

  function renderAlerts() {
    const list = $("alerts-list");
    clear(list);
    if (state.alerts === null) {
      $("alerts-count").textContent = "";
      setNote("alerts-note", "Alerts: not available.");
      return;
    }
    if (state.alerts instanceof Error) {
      $("alerts-count").textContent = "";
      setNote("alerts-note", `Alerts: ${state.alerts.message}`);
      return;
    }
    $("alerts-count").textContent = `${state.alerts.length} open`;
    setNote("alerts-note", state.alerts.length ? "" : "No open alerts.");
    for (const alert of state.alerts) {
      const order = findOrder(alert.order_id);
      const button = el("button", { type: "button" }, "Acknowledge");
      button.addEventListener("click", () => acknowledge(alert, button));
      const overdue = alert.due_at && new Date(alert.due_at) < new Date();
      list.append(el("li", { className: `item alert stage-${alert.stage ?? 1}` },
        el("div", { className: "item-head" },
          el("strong", { text: `Stage ${alert.stage ?? "?"}` }),
          el("span", { className: "pill", text: (alert.tier || "").replaceAll("_", " ") }),
          overdue ? el("span", { className: "pill sla-red", text: "overdue" }) : null),
        el("p", { text: alert.message || "" }),
        el("p", { className: "meta", text: [
          order ? `Order ${orderTitle(order)}` : alert.order_id ? `Order ${String(alert.order_id).slice(0, 8)}` : null,
          alert.due_at ? `due ${fmtTime(alert.due_at)}` : null,
          listOf(alert.phones).length ? `call ${listOf(alert.phones).join(", ")}` : null,
        ].filter(Boolean).join(" · ") }),
        el("div", { className: "item-actions" },
          alert.order_id ? el("button", { type: "button", onclick: () => selectOrder(alert.order_id) }, "Show order") : null,
          route("ack") ? button : el("span", { className: "note", text: "acknowledge: not available" }))));
    }
  }

  async function acknowledge(alert, button) {
    const path = route("ack");
    button.disabled = true;
    try {
      await request("POST", buildUrl(path, "post", { id: alert.id }), {});
      await loadAlerts();
      renderAlerts();
    } catch (err) {
      button.disabled = false;
      setNote("alerts-note", `Acknowledge failed: ${err.message}`);
    }
  }

  // ---------------------------------------------------------------- conflicts

  function showValue(value) {
    if (value === null || value === undefined) return "∅";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function conflictItem(conflict) {
    const message = el("p", { className: "note", role: "status" });
    const actions = el("div", { className: "item-actions" });
    if (route("resolve")) {
      for (const [resolution, label] of [["take_server", "Keep server"], ["take_client", "Take device"]]) {
        const button = el("button", { type: "button" }, label);
        button.addEventListener("click", async () => {
          button.disabled = true;
          try {
            await request("POST", buildUrl(route("resolve"), "post", { id: conflict.id }), { resolution });
            await loadConflicts();
          } catch (err) {
            button.disabled = false;
            message.textContent = `Resolve failed: ${err.message}`;
          }
        });
        actions.append(button);
      }
    }
    return el("li", { className: "item" },
      el("div", { className: "item-head" },
        el("strong", { text: `${conflict.entity || "record"}.${conflict.field || conflict.key || "?"}` }),
        el("span", { className: "pill", text: conflict.device || "device ?" })),
      el("dl", { className: "facts" },
        el("dt", { text: "Server" }), el("dd", { text: showValue(conflict.server) }),
        el("dt", { text: "Device" }), el("dd", { text: showValue(conflict.client) }),
        el("dt", { text: "Record" }), el("dd", { text: String(conflict.record_id ?? "") }),
        el("dt", { text: "Queued" }), el("dd", { text: fmtTime(conflict.created_at) })),
      actions, message);
  }

  // ---------------------------------------------------------------- live feed

  function setFeedStatus(text) {
    const node = $("feed-status");
    node.textContent = `Live feed: ${text}`;
    node.dataset.state = text;
  }

  function feedPaths() {
    if (!state.spec || typeof EventSource === "undefined") return [];
    return findPaths("get", [FEED_PATTERN]).filter((p) => !p.includes("{"));
  }

  function updateFeedStatus() {
    if (!state.feeds.length) setFeedStatus("not available");
    else if (state.feeds.every((f) => f.readyState === EventSource.OPEN)) setFeedStatus("connected");
    else if (state.feeds.some((f) => f.readyState === EventSource.OPEN)) setFeedStatus("partly connected");
    else setFeedStatus("connecting");
  }

  function openFeeds() {
    for (const feed of state.feeds) feed.close();
    state.feeds = [];
    for (const path of feedPaths()) openFeed(path, 0);
    updateFeedStatus();
  }

  // The browser reconnects by itself after a dropped stream; a refused one (expired token,
  // missing role) closes for good, so it is reopened with the current token, backing off.
  function openFeed(path, failures) {
    if (!state.token) return;
    const source = new EventSource(`${path}?access_token=${encodeURIComponent(state.token)}`);
    let opened = false;
    source.addEventListener("open", () => {
      opened = true;
      updateFeedStatus();
    });
    source.addEventListener("error", () => {
      updateFeedStatus();
      if (source.readyState !== EventSource.CLOSED || !state.feeds.includes(source)) return;
      const next = opened ? 0 : failures + 1;
      const delay = Math.min(60000, 2000 * 2 ** Math.min(next, 5));
      setTimeout(async () => {
        if (!state.token || !state.feeds.includes(source)) return;
        if (next > 1) await refreshAccess();
        state.feeds = state.feeds.filter((f) => f !== source);
        openFeed(path, next);
        updateFeedStatus();
      }, delay);
    });
    for (const name of FEED_EVENTS) source.addEventListener(name, (event) => onFeedEvent(name, event));
    state.feeds.push(source);
  }

  function onFeedEvent(name, event) {
    let data = event.data;
    try {
      data = JSON.parse(event.data);
    } catch (_err) {
      // a plain-text event: logged as is
    }
    logFeed(name, data);
    const items = Array.isArray(data) ? data : [data];
    let positions = false;
    let orders = false;
    let alerts = false;
    let conflicts = false;
    for (const item of items) {
      if (!item || typeof item !== "object") continue;
      const kind = String(name !== "message" ? name : item.kind || item.event || item.type || name).toLowerCase();
      const payload = item.data && typeof item.data === "object" ? item.data : item.payload && typeof item.payload === "object" ? item.payload : item;
      if (/position|vehicle|liveness|state|availab/.test(kind) && mergeLive(payload)) positions = true;
      if (/alert|escalat/.test(kind)) alerts = true;
      if (/conflict/.test(kind)) conflicts = true;
      if (/order|timing|dispatch|breach|status|assign|checkpoint|point/.test(kind) || payload.order_id) {
        orders = true;
        const id = payload.order_id || (/order/.test(kind) ? payload.id : null);
        if (id) state.timelines.delete(String(id));
      }
    }
    if (positions) drawMap();
    if (orders) debounce("orders", async () => {
      await loadOrders();
      await loadTimelines();
      renderQueue();
      drawMap();
      if (state.selected) renderDetail(false);
    });
    if (alerts) debounce("alerts", async () => {
      await loadAlerts();
      renderAlerts();
    });
    if (conflicts) debounce("conflicts", loadConflicts);
  }

  function debounce(key, fn, ms = 800) {
    clearTimeout(state.pending.get(key));
    state.pending.set(key, setTimeout(fn, ms));
  }

  function logFeed(name, data) {
    const list = $("feed-list");
    const time = new Date().toLocaleTimeString(undefined, { timeZone: timezone, hour12: false });
    const summary = typeof data === "string" ? data : JSON.stringify(data);
    list.prepend(el("li", null, el("time", { text: time }), " ", el("strong", { text: name }), " ", summary.slice(0, 200)));
    while (list.children.length > 50) list.lastChild.remove();
  }

  // ---------------------------------------------------------------- map

  function mapSize() {
    const node = $("map");
    const box = node.getBoundingClientRect();
    return { width: Math.max(box.width, 200), height: Math.max(box.height, 200) };
  }

  function mapPoints() {
    const points = [];
    for (const d of state.departments) {
      const p = positionOf(d.site || {});
      if (p) points.push(p);
    }
    for (const v of state.live.values()) if (Number.isFinite(v.lat) && Number.isFinite(v.lon)) points.push(v);
    for (const o of state.orders) {
      const p = positionOf(o.location || {});
      if (p) points.push(p);
    }
    return points;
  }

  // Equirectangular around the bounding box: x = lon * cos(mid latitude), y = -lat, then
  // scaled to fit the viewport with a margin. Good enough for a city-sized service area.
  function computeFrame() {
    const points = mapPoints();
    if (!points.length) return null;
    let minLat = Infinity; let maxLat = -Infinity; let minLon = Infinity; let maxLon = -Infinity;
    for (const p of points) {
      minLat = Math.min(minLat, p.lat); maxLat = Math.max(maxLat, p.lat);
      minLon = Math.min(minLon, p.lon); maxLon = Math.max(maxLon, p.lon);
    }
    const pad = 0.005;
    minLat -= pad; maxLat += pad; minLon -= pad; maxLon += pad;
    const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
    const { width, height } = mapSize();
    const margin = 30;
    const spanX = (maxLon - minLon) * k;
    const spanY = maxLat - minLat;
    const unit = Math.min((width - 2 * margin) / spanX, (height - 2 * margin) / spanY);
    const offX = (width - spanX * unit) / 2;
    const offY = (height - spanY * unit) / 2;
    return { minLat, maxLat, minLon, maxLon, k, unit, offX, offY, width, height };
  }

  function project(lon, lat) {
    const f = state.frame;
    const x = f.offX + (lon - f.minLon) * f.k * f.unit;
    const y = f.offY + (f.maxLat - lat) * f.unit;
    const v = state.view;
    return [x * v.scale + v.tx, y * v.scale + v.ty];
  }

  function unproject(sx, sy) {
    const f = state.frame;
    const v = state.view;
    const x = (sx - v.tx) / v.scale;
    const y = (sy - v.ty) / v.scale;
    return [f.minLon + (x - f.offX) / (f.k * f.unit), f.maxLat - (y - f.offY) / f.unit];
  }

  function vehicleState(vehicleId, live) {
    const parts = [];
    const liveness = live.liveness || (live.connected === false ? "offline" : null);
    if (liveness) parts.push(liveness);
    if (live.available === false) parts.push("unavailable");
    const busy = state.orders.some((o) => Number(o.vehicle_id) === vehicleId && BUSY_STATES.has(o.status));
    parts.push(busy ? "busy" : "free");
    if (Number(live.speed) > 1) parts.push(`${Math.round(Number(live.speed) * 3.6)} km/h`);
    return { text: parts.join(" · "), offline: liveness === "offline" || liveness === "stale" || live.connected === false, busy };
  }

  function marker(kind, lon, lat, props, ...children) {
    const group = svg("g", { className: `marker marker-${kind}`, ...props }, ...children);
    state.markers.push({ node: group, lon, lat });
    return group;
  }

  function drawMap() {
    const svgNode = $("map");
    if (!svgNode || $("console-view").hidden) return;
    const { width, height } = mapSize();
    svgNode.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const previous = state.frame;
    const frame = computeFrame();
    const layers = ["layer-departments", "layer-orders", "layer-vehicles"].map($);
    state.markers = [];
    for (const layer of layers) clear(layer);
    clear($("layer-grid"));
    if (!frame) {
      state.frame = null;
      if (!$("map-note").textContent) setNote("map-note", "Nothing with a position to show yet.");
      return;
    }
    // Keep the dispatcher's zoom and pan unless the data area itself changed.
    if (!previous || ["minLat", "maxLat", "minLon", "maxLon", "width", "height"].some((k) => Math.abs(previous[k] - frame[k]) > 1e-9)) {
      state.frame = frame;
      if (!previous) state.view = { scale: 1, tx: 0, ty: 0 };
    }
    const [deptLayer, orderLayer, vehicleLayer] = layers;
    for (const d of state.departments) {
      const p = positionOf(d.site || {});
      if (!p) continue;
      deptLayer.append(marker("department", p.lon, p.lat, { "aria-label": `Department ${d.name || d.code}` },
        svg("title", { text: `${d.name || ""} (${d.kind || ""})${d.address ? ` — ${d.address}` : ""}` }),
        svg("rect", { x: -6, y: -6, width: 12, height: 12 }),
        svg("text", { x: 9, y: 4, className: "label", text: d.code || d.name || "" })));
    }
    for (const o of state.orders) {
      const p = positionOf(o.location || {});
      if (!p) continue;
      const worst = worstColor(state.timelines.get(String(o.id)));
      const selected = String(state.selected) === String(o.id);
      const node = marker("order", p.lon, p.lat, {
        className: `marker marker-order sla-${worst || "none"}${selected ? " selected" : ""}`,
        tabindex: 0,
        role: "button",
        "aria-label": `Order ${orderTitle(o)}, ${o.status || ""}${worst ? `, SLA ${worst}` : ""}`,
      },
      svg("title", { text: `${orderTitle(o)} — ${o.fault_type || ""} ${o.address || ""}` }),
      svg("path", { d: "M0,-10 L9,6 L-9,6 Z" }),
      svg("text", { x: 11, y: 4, className: "label", text: `${orderTitle(o)}${worst ? ` (${worst})` : ""}` }));
      node.addEventListener("click", () => selectOrder(o.id));
      node.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          selectOrder(o.id);
        }
      });
      orderLayer.append(node);
    }
    for (const [id, live] of state.live) {
      if (!Number.isFinite(live.lat) || !Number.isFinite(live.lon)) continue;
      const vehicle = state.vehicles.get(id) || {};
      const info = vehicleState(id, live);
      const plate = vehicle.plate || live.plate || `#${id}`;
      const heading = Number(live.heading);
      vehicleLayer.append(marker("vehicle", live.lon, live.lat, {
        className: `marker marker-vehicle${info.offline ? " offline" : ""}${info.busy ? " busy" : ""}`,
        "aria-label": `Vehicle ${plate}: ${info.text}`,
      },
      svg("title", { text: `${plate}: ${info.text}${live.ts ? ` — last fix ${fmtTime(live.ts)}` : ""}` }),
      svg("circle", { r: 7 }),
      Number.isFinite(heading) && Number(live.speed) > 1 ? svg("path", { className: "heading", d: "M0,-13 L4,-7 L-4,-7 Z", transform: `rotate(${heading})` }) : null,
      svg("text", { x: 10, y: 4, className: "label", text: `${plate} · ${info.text}` })));
    }
    placeMarkers();
  }

  function niceStep(span) {
    const raw = span / 6;
    const pow = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 5, 10]) if (raw <= m * pow) return m * pow;
    return 10 * pow;
  }

  function drawGrid() {
    const grid = $("layer-grid");
    clear(grid);
    if (!state.frame) return;
    const { width, height } = state.frame;
    const [lonA, latA] = unproject(0, 0);
    const [lonB, latB] = unproject(width, height);
    const step = niceStep(Math.max(lonB - lonA, latA - latB));
    const digits = Math.max(0, -Math.floor(Math.log10(step)));
    for (let lon = Math.ceil(lonA / step) * step; lon <= lonB; lon += step) {
      const [x] = project(lon, latA);
      grid.append(svg("line", { x1: x, y1: 0, x2: x, y2: height }), svg("text", { x: x + 2, y: height - 4, className: "grid-label", text: `${lon.toFixed(digits)}°E` }));
    }
    for (let lat = Math.ceil(latB / step) * step; lat <= latA; lat += step) {
      const [, y] = project(lonA, lat);
      grid.append(svg("line", { x1: 0, y1: y, x2: width, y2: y }), svg("text", { x: 2, y: y - 2, className: "grid-label", text: `${lat.toFixed(digits)}°N` }));
    }
  }

  function placeMarkers() {
    if (!state.frame) return;
    for (const m of state.markers) {
      const [x, y] = project(m.lon, m.lat);
      m.node.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
    }
    drawGrid();
  }

  function zoomAt(factor, sx, sy) {
    const v = state.view;
    const scale = Math.min(200, Math.max(0.2, v.scale * factor));
    const f = scale / v.scale;
    v.tx = sx - (sx - v.tx) * f;
    v.ty = sy - (sy - v.ty) * f;
    v.scale = scale;
    placeMarkers();
  }

  function setupMap() {
    const node = $("map");
    let drag = null;
    node.addEventListener("wheel", (e) => {
      e.preventDefault();
      const box = node.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - box.left, e.clientY - box.top);
    }, { passive: false });
    node.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || e.target.closest(".marker-order")) return;
      drag = { x: e.clientX, y: e.clientY, tx: state.view.tx, ty: state.view.ty, id: e.pointerId };
      node.setPointerCapture(e.pointerId);
      node.classList.add("dragging");
    });
    node.addEventListener("pointermove", (e) => {
      if (!drag || e.pointerId !== drag.id) return;
      state.view.tx = drag.tx + (e.clientX - drag.x);
      state.view.ty = drag.ty + (e.clientY - drag.y);
      placeMarkers();
    });
    const end = (e) => {
      if (drag && e.pointerId === drag.id) {
        drag = null;
        node.classList.remove("dragging");
      }
    };
    node.addEventListener("pointerup", end);
    node.addEventListener("pointercancel", end);
    node.addEventListener("keydown", (e) => {
      if (e.target !== node) return;
      const { width, height } = mapSize();
      const moves = { ArrowLeft: [40, 0], ArrowRight: [-40, 0], ArrowUp: [0, 40], ArrowDown: [0, -40] };
      if (e.key === "+" || e.key === "=") zoomAt(1.2, width / 2, height / 2);
      else if (e.key === "-") zoomAt(1 / 1.2, width / 2, height / 2);
      else if (moves[e.key]) {
        state.view.tx += moves[e.key][0];
        state.view.ty += moves[e.key][1];
        placeMarkers();
      } else return;
      e.preventDefault();
    });
    $("zoom-in").addEventListener("click", () => { const s = mapSize(); zoomAt(1.2, s.width / 2, s.height / 2); });
    $("zoom-out").addEventListener("click", () => { const s = mapSize(); zoomAt(1 / 1.2, s.width / 2, s.height / 2); });
    $("zoom-reset").addEventListener("click", () => {
      state.view = { scale: 1, tx: 0, ty: 0 };
      state.frame = null;
      drawMap();
    });
    window.addEventListener("resize", () => debounce("resize", () => { state.frame = null; drawMap(); }, 200));
  }

  // ---------------------------------------------------------------- boot

  function boot() {
    $("login-form").addEventListener("submit", login);
    $("logout-button").addEventListener("click", async () => {
      try {
        await request("POST", "/api/v1/auth/logout", {});
      } catch (_err) {
        // the token is dropped locally either way
      }
      logout("Logged out.");
    });
    $("refresh-button").addEventListener("click", refreshAll);
    $("detail-close").addEventListener("click", () => {
      state.selected = null;
      clear($("detail-body"));
      $("detail-body").append(el("p", { className: "note", text: "Select an order in the queue or on the map." }));
      $("detail-title").textContent = "Order";
      $("detail-close").hidden = true;
      renderQueue();
      drawMap();
    });
    $("detail-title").setAttribute("tabindex", "-1");
    setupMap();
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) start(token);
    else $("login-username").focus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
