// Hearth's service worker: the page opens offline, and from any static file server.
//
// - The app (page, scripts, vendored runtimes, wheels, pyapp.zip: everything in
//   manifest.json but the model, and ORT's WebGPU build where the browser offers no WebGPU
//   adapter) is precached at install into a cache named for this build,
//   and build.py writes the build id below, so every build is a new worker. Activation
//   deletes every other build's cache.
// - App files are network-first: while the server runs, a reload always gets this build's
//   files (revalidated by the HTTP cache, so nothing is downloaded twice); when it is gone,
//   the precache answers. The page and its files therefore never mix two builds online.
// - Model files are cache-first, in their own cache, each stored with the sha256 the
//   manifest gives it: downloaded once, then read from disk, and only while this build's
//   manifest names that same hash. The page checks what it reads against the manifest and,
//   if a saved copy is damaged, deletes it here and downloads it again (pyapp/browser/local.py).
// - ORT's WebGPU build, when install skipped it, is stored once a page loads it online (an
//   adapter that appeared later), so the next offline visit runs on WebGPU too.
// - Every answer gets the cross-origin isolation headers and, for pages, the content
//   policy that serve.py sends, so WASM threads work offline and on a static host too.
//
// The API (/api/, /foundry/) is never cached or answered from here: it needs serve.py.

const BUILD = "{{build}}";
const PAGE_HEADERS = {{page_headers}};
const APP_CACHE = `hearth-app-${BUILD}`;
const MODEL_CACHE = "hearth-models";
const API = /\/(api|foundry)\//;
const HASH_HEADER = "X-Hearth-Sha256";

const scope = new URL(self.registration.scope);
const within = (url) => url.origin === scope.origin && url.pathname.startsWith(scope.pathname);
const relative = (url) => url.pathname.slice(scope.pathname.length);
const isModel = (url) => relative(url).startsWith("models/");

async function manifest() {
  const response = await fetch(new URL("manifest.json", scope), { cache: "no-store" });
  if (!response.ok) throw new Error(`manifest.json answered HTTP ${response.status}`);
  return response.json();
}

// This build's manifest ({files: name -> {size, sha256}, webgpu_only}), precached: it is
// what this worker serves, whatever the server now has.
let built = null;
async function shipped() {
  if (!built) {
    const response = await caches.match(new URL("manifest.json", scope).href, { cacheName: APP_CACHE });
    built = response ? await response.json() : { files: {}, webgpu_only: [] };
  }
  return built;
}

// A hex digest (the manifest's) as the base64 that Subresource Integrity expects.
const base64 = (hex) => btoa(String.fromCharCode(...hex.match(/../g).map((pair) => parseInt(pair, 16))));

// The request that stores app file `name` of a build whose manifest lists `files`.
// `cache: "no-cache"` asks the server whether the HTTP cache's copy is current, so a file
// the page is downloading at the same moment (Pyodide, ORT, the snapshot) is not downloaded
// twice, and `integrity` makes the browser refuse any body that is not the one this build's
// manifest names: what is stored is this build's.
const precached = (name, files) => new Request(new URL(name, scope), {
  cache: "no-cache",
  integrity: files[name] ? `sha256-${base64(files[name].sha256)}` : "",
});

// Whether pages here can use WebGPU, by the test that site/engine.js `plan` makes: if not,
// ORT's WebGPU build (27 MB) is not precached, since no page of this browser would load it.
// Should an adapter appear later, an offline visit falls back to WASM and says why, and
// the next online visit stores the build (`fromApp`).
async function webgpu() {
  return Boolean(await self.navigator.gpu?.requestAdapter().catch(() => null));
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const { files, webgpu_only: webgpuOnly } = await manifest();
    const skipped = new Set((await webgpu()) ? [] : webgpuOnly);
    const names = Object.keys(files).filter((name) => !name.startsWith("models/") && !skipped.has(name));
    const cache = await caches.open(APP_CACHE);
    await cache.addAll(["", "manifest.json", ...names].map((name) => precached(name, files)));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      // this build's app files stay, other builds' go, and so do the Python snapshots that
      // pages made themselves before the build shipped one (site/python.js)
      if ((name.startsWith("hearth-app-") && name !== APP_CACHE) || name.startsWith("hearth-python-")) await caches.delete(name);
    }
    const { files } = await shipped();
    const models = await caches.open(MODEL_CACHE);
    for (const request of await models.keys()) {
      const stored = await models.match(request);
      const expected = files[relative(new URL(request.url))];
      if (!expected || stored.headers.get(HASH_HEADER) !== expected.sha256) await models.delete(request);
    }
    await self.clients.claim();
  })());
});

// A copy of `response` with the isolation headers (and, for a page, the content policy).
function isolated(response, page) {
  if (response.type === "opaque" || response.status === 0) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(PAGE_HEADERS)) {
    if (name === "Content-Security-Policy" && !page) continue;
    if (!headers.has(name)) headers.set(name, value);
  }
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

// A file of ORT's WebGPU build that install skipped, loaded online now: stored in this
// build's cache, as install would have (a failed store, a full quota say, only means the
// next offline visit runs on WASM again). Each is stored once, though ORT's threads each
// load the build's script.
const storing = new Set();
async function storeSkipped(url) {
  const { files, webgpu_only: late } = await shipped();
  const name = relative(url);
  if (!late.includes(name) || !files[name] || storing.has(name)) return;
  storing.add(name);
  try {
    const request = precached(name, files);
    const cache = await caches.open(APP_CACHE);
    if (!(await cache.match(request))) await cache.add(request);
  } finally {
    storing.delete(name);
  }
}

async function fromApp(event, page) {
  const request = event.request;
  let response;
  try {
    response = await fetch(request);
  } catch (error) {
    // the server is gone: this build's precached copy (any page URL is the page)
    const key = page ? new URL("", scope).href : request;
    const cached = await caches.match(key, { cacheName: APP_CACHE, ignoreSearch: page });
    if (cached) return isolated(cached, page);
    throw error;
  }
  if (!page && response.ok) event.waitUntil(storeSkipped(new URL(request.url)).catch(() => {}));
  return isolated(response, page);
}

async function fromModels(event) {
  const cache = await caches.open(MODEL_CACHE);
  const expected = (await shipped()).files[relative(new URL(event.request.url))];
  const cached = await cache.match(event.request);
  if (cached && expected && cached.headers.get(HASH_HEADER) === expected.sha256) {
    return isolated(cached, false);
  }
  const response = await fetch(event.request);
  if (response.status === 200 && expected) {
    // Stored while it streams to the page; a failed store (a full quota) only means the
    // next visit downloads it again.
    const headers = new Headers(response.headers);
    headers.set(HASH_HEADER, expected.sha256);
    const copy = new Response(response.clone().body, { status: 200, headers });
    event.waitUntil(cache.put(event.request, copy).catch(() => {}));
  }
  return isolated(response, false);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || !within(url) || API.test(url.pathname)) return;
  if (request.headers.has("range")) return; // partial reads go straight to the server
  if (isModel(url)) {
    event.respondWith(fromModels(event));
  } else {
    event.respondWith(fromApp(event, request.mode === "navigate"));
  }
});
