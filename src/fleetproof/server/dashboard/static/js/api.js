// Talking to the server: the admin token and authenticated fetches.
//
// The token comes from the URL fragment (#token=..., printed by `fleetproof demo`;
// a fragment never reaches server logs) or from the sign-in form, and lives in
// sessionStorage so that it is forgotten when the tab closes.

const KEY = "fleetproof.adminToken";
export const API = "/api/v1/dashboard";

export class AuthError extends Error {}

export function takeTokenFromFragment() {
  const hash = window.location.hash.replace(/^#/, "");
  const params = new URLSearchParams(hash.includes("?") ? hash.split("?")[1] : hash);
  const token = params.get("token");
  if (!token) return false;
  sessionStorage.setItem(KEY, token);
  history.replaceState(null, "", window.location.pathname + window.location.search + "#/map");
  return true;
}

export const getToken = () => sessionStorage.getItem(KEY);
export const setToken = (token) => sessionStorage.setItem(KEY, token);
export const clearToken = () => sessionStorage.removeItem(KEY);

async function authorizedFetch(url) {
  const token = getToken();
  if (!token) throw new AuthError("no admin token");
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401 || response.status === 403) throw new AuthError("the admin token was refused");
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (_) {
      /* not JSON */
    }
    throw new Error(`${response.status} ${detail}`);
  }
  return response;
}

export async function getJSON(path, params) {
  const query = params ? "?" + new URLSearchParams(clean(params)).toString() : "";
  const response = await authorizedFetch(API + path + query);
  return response.json();
}

function clean(params) {
  const out = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") out[k] = String(v);
  return out;
}

// Fetch with the token and save the answer as a file (a plain link cannot carry the header).
export async function download(url, filename) {
  const response = await authorizedFetch(url);
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}
