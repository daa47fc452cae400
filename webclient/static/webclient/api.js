// The REST API: Bearer tokens refreshed silently (one refresh at a time: a refresh token used
// twice ends the session), and the error envelope turned into a sentence.
const BASE = "/api/v1";
const STORAGE = "messenger.session";

export class ApiError extends Error {
  constructor(status, body) {
    super(sentence(status, body));
    this.status = status;
    this.code = body && body.code;
    this.body = body;
  }
}

// {"detail", "code", "errors"?} as one readable sentence; never a stack trace or raw JSON.
export function sentence(status, body) {
  if (body && typeof body === "object") {
    const fieldErrors = body.errors && typeof body.errors === "object"
      ? Object.entries(body.errors).map(([field, msgs]) => `${field.replaceAll("_", " ")}: ${[].concat(msgs).join(" ")}`)
      : [];
    if (fieldErrors.length) return fieldErrors.join(" ");
    if (body.detail) return String(body.detail);
  }
  if (status === 0) return "The server cannot be reached. Check your connection and try again.";
  if (status >= 500) return "The server had a problem. Please try again in a moment.";
  return `The request failed (${status}).`;
}

let session = JSON.parse(localStorage.getItem(STORAGE) || "null");
let refreshing = null;
const listeners = new Set();

export const currentSession = () => session;
export function setSession(value) {
  session = value;
  if (value) localStorage.setItem(STORAGE, JSON.stringify(value));
  else localStorage.removeItem(STORAGE);
  for (const listener of listeners) listener(value);
}
export const onSessionChange = (listener) => listeners.add(listener);

// Other tabs of this browser share the session (localStorage). A refresh token works once: two
// tabs refreshing with the same one would end the session (reuse detection). So refreshes take a
// lock across tabs, and a tab first adopts tokens another tab already rotated.
async function rotate() {
  const stored = JSON.parse(localStorage.getItem(STORAGE) || "null");
  if (!stored) throw new ApiError(401, { detail: "You were logged out. Please log in again." });
  if (stored.refresh !== session.refresh) { session = stored; return; }
  const tokens = await raw("POST", "/auth/refresh", { refresh: session.refresh }, false);
  setSession({ ...session, access: tokens.access, refresh: tokens.refresh });
}

export async function refreshTokens() {
  if (!session) throw new ApiError(401, { detail: "Please log in." });
  if (!refreshing) {
    const locked = navigator.locks ? navigator.locks.request("messenger-refresh", rotate) : rotate();
    refreshing = locked
      .catch((error) => {
        if (error.status === 401) setSession(null); // the session ended (logout elsewhere, reuse)
        throw error;
      })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

// A logout in another tab logs this one out too.
addEventListener("storage", (event) => {
  if (event.key === STORAGE && !event.newValue && session) setSession(null);
});

// "/users/x" under the API's base; "/api/..." as is; a pagination link (`next`, an absolute URL
// as the server saw its own address, which behind a proxy may not be the page's) by its path.
function resolve(path) {
  if (/^https?:/.test(path)) {
    const url = new URL(path);
    return url.pathname + url.search;
  }
  return path.startsWith("/api/") ? path : BASE + path;
}

async function raw(method, path, body, auth, isForm = false) {
  const headers = { Accept: "application/json" };
  if (auth && session) headers.Authorization = `Bearer ${session.access}`;
  if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(resolve(path), {
      method, headers, body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, null);
  }
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch { /* not JSON: the status says enough */ }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export async function api(method, path, body, { form = false } = {}) {
  if (refreshing) await refreshing.catch(() => {});
  try {
    return await raw(method, path, body, true, form);
  } catch (error) {
    if (error.status !== 401 || !session) throw error;
    await refreshTokens();
    return raw(method, path, body, true, form);
  }
}
export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const anonymous = (method, path, body) => raw(method, path, body, false);
