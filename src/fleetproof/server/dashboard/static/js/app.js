// The dashboard's entry point: sign-in with the admin token, navigation, and page rendering.

import { AuthError, clearToken, getToken, setToken, takeTokenFromFragment } from "./api.js";
import { fill, h } from "./dom.js";
import { mapPage } from "./mappage.js";
import { alertsPage, hostsPage, landmarksPage, overviewPage } from "./pages.js";
import { hostPage } from "./hostpage.js";

const ROUTES = [
  ["map", "Map", mapPage],
  ["overview", "Overview", overviewPage],
  ["hosts", "Hosts", hostsPage],
  ["alerts", "Alerts", alertsPage],
  ["landmarks", "Landmarks", landmarksPage],
];

const main = document.getElementById("main");
const navBar = document.getElementById("nav");
let leaveHooks = [];
let generation = 0;

const nav = {
  go: (hash) => {
    if (window.location.hash === hash) render();
    else window.location.hash = hash;
  },
  onLeave: (fn) => leaveHooks.push(fn),
};

// A segment with a broken percent escape (a link cut short when pasted) stays as typed, so the
// page reports the host it cannot find instead of stopping before it renders anything.
function decodeSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch (_) {
    return segment;
  }
}

function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  const parts = path.split("/").map(decodeSegment);
  return { name: parts[0] || "map", arg: parts.slice(1).join("/"), params: new URLSearchParams(query || "") };
}

function renderNav(active) {
  fill(navBar,
    // Clicking the page already shown reloads it (a plain link to the same hash does nothing).
    ...ROUTES.map(([name, label]) =>
      h("a", { href: `#/${name}`, class: name === active ? "active" : "", onclick: (ev) => {
        if (window.location.hash === `#/${name}`) { ev.preventDefault(); render(); }
      } }, label)),
    h("span", { class: "spacer" }),
    getToken() ? h("button", { class: "link", onclick: () => { clearToken(); render(); } }, "sign out") : null
  );
}

function signIn(message) {
  renderNav(null);
  const input = h("input", { type: "password", id: "token", placeholder: "admin token", autocomplete: "off" });
  const submit = (ev) => {
    ev.preventDefault();
    if (!input.value.trim()) return;
    setToken(input.value.trim());
    render();
  };
  main.replaceChildren(
    h("form", { class: "signin", onsubmit: submit },
      h("h2", {}, "fleetproof dashboard"),
      message ? h("p", { class: "error" }, message) : null,
      h("p", {}, "Enter the server's admin token. It is kept for this browser tab only."),
      input, " ", h("button", { type: "submit" }, "Sign in")));
  input.focus();
}

async function render() {
  const mine = ++generation;
  for (const fn of leaveHooks) fn();
  leaveHooks = [];
  if (!getToken()) return signIn();
  const { name, arg, params } = parseHash();
  const route = name === "host" ? ["host", "Host", (r, p, n) => hostPage(r, p, n, arg)] : ROUTES.find(([n]) => n === name) || ROUTES[0];
  renderNav(route[0] === "host" ? "hosts" : route[0]);
  const root = h("div", { class: `page page-${route[0]}` });
  main.replaceChildren(root);
  document.body.dataset.page = route[0];
  document.body.dataset.ready = "0";
  try {
    await route[2](root, params, nav);
    if (mine === generation) document.body.dataset.ready = "1";
  } catch (err) {
    if (mine !== generation) return;
    if (err instanceof AuthError) {
      clearToken();
      return signIn(`Signed out: ${err.message}.`);
    }
    root.append(h("p", { class: "error" }, `Could not load this page: ${err.message}`));
    document.body.dataset.ready = "error";
  }
}

takeTokenFromFragment();
window.addEventListener("hashchange", render);
render();
