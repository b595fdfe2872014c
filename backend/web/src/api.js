// The API client: bearer tokens kept for the tab's session, refresh on expiry, problem+json errors.

const BASE = "/api/v1";
const KEY = "fieldline.session";
let tokens = JSON.parse(sessionStorage.getItem(KEY) || "null");
let refreshing = null;
const expiredListeners = [];

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export const hasSession = () => Boolean(tokens?.access_token);
export const onSessionExpired = (fn) => expiredListeners.push(fn);

function store(next) {
  tokens = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
}

async function problemOf(response) {
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      /* fall through to the status line */
    }
  }
  return { title: `${response.status} ${response.statusText}` };
}

async function refresh() {
  if (!tokens?.refresh_token) return false;
  refreshing ??= fetch(`${BASE}/auth/refresh`, {
    method: "POST",
    headers: { Authorization: `Bearer ${tokens.refresh_token}` },
  })
    .then(async (response) => {
      if (!response.ok) return false;
      const body = await response.json();
      // Refresh tokens may rotate (the spent one is revoked): keep whichever is newest.
      store({ ...tokens, access_token: body.access_token, ...(body.refresh_token ? { refresh_token: body.refresh_token } : {}) });
      return true;
    })
    .catch(() => false)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export async function request(method, path, { body, query, raw = false } = {}) {
  const url = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const send = () =>
    fetch(url, {
      method,
      headers: {
        Accept: "application/json",
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...(tokens?.access_token ? { Authorization: `Bearer ${tokens.access_token}` } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  let response = await send();
  if (response.status === 401 && tokens && (await refresh())) response = await send();
  if (response.status === 401 && tokens) {
    store(null);
    for (const fn of expiredListeners) fn();
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, query) => request("GET", path, { query });
export const post = (path, body = {}) => request("POST", path, { body });
export const put = (path, body) => request("PUT", path, { body });

// Every page of a paginated list (flask-smorest: page, page_size, X-Pagination).
export async function getAll(path, query = {}, limit = 1000) {
  const items = [];
  for (let page = 1; items.length < limit; page += 1) {
    const response = await request("GET", path, { query: { ...query, page, page_size: 100 }, raw: true });
    const batch = await response.json();
    items.push(...batch);
    const info = JSON.parse(response.headers.get("X-Pagination") || "{}");
    if (!info.next_page || batch.length === 0) break;
  }
  return items;
}

export async function login(username, password) {
  store(null);
  const body = await request("POST", "/auth/login", { body: { username, password } });
  store({ access_token: body.access_token, refresh_token: body.refresh_token });
}

export async function logout() {
  try {
    if (tokens) await post("/auth/logout", { refresh_token: tokens.refresh_token });
  } finally {
    store(null);
  }
}

// Which endpoints this server offers (its OpenAPI document), so the console never calls one
// that is not there: features appear as the backend gains them.
let spec = null;
export async function loadSpec() {
  const response = await fetch("/api/openapi.json");
  spec = response.ok ? (await response.json()).paths || {} : {};
}
export const offers = (method, path) => Boolean(spec?.[BASE + path]?.[method.toLowerCase()]);

// An EventSource URL: a single-use stream ticket where the server offers them, else the token.
export async function streamUrl(path) {
  const sep = path.includes("?") ? "&" : "?";
  if (offers("post", "/auth/stream-ticket")) {
    const { ticket } = await post("/auth/stream-ticket", {});
    return `${BASE}${path}${sep}ticket=${encodeURIComponent(ticket)}`;
  }
  await refresh(); // a fresh token: the stream outlives no more than the token does
  return `${BASE}${path}${sep}access_token=${encodeURIComponent(tokens?.access_token || "")}`;
}

// Download a report file through fetch (the token stays in a header), then save it.
export async function download(path, query, filename) {
  const response = await request("GET", path, { query, raw: true });
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
