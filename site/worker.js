// Hearth's Web Worker: boots Pyodide from the vendored files and runs pyapp in it.
//
// Python never touches the DOM. It posts small commands ({op: ...}) to the main thread,
// whose renderer (ui.js) applies them, and receives the page's events ({type: ...}) here.
// Everything Python needs from JS is in one module it imports as `hearth_host`, so no
// JavaScript is ever evaluated from a string (the page's CSP forbids it).

const started = performance.now();
const pending = []; // page events that arrive before Python listens
let listener = null;
let hello = null;
let helloArrived;
const helloReceived = new Promise((resolve) => { helloArrived = resolve; });

self.onmessage = ({ data }) => {
  if (data && data.type === "hello") {
    hello = data;
    helloArrived();
  } else if (listener) {
    listener(data);
  } else {
    pending.push(data);
  }
};

function post(message) {
  self.postMessage(message);
}

// A CSP violation here would otherwise only reach the worker's own console: show it on the
// page's, where it is seen (and where the tests check that there is none).
self.addEventListener("securitypolicyviolation", (event) => {
  post({ op: "csp_violation", directive: event.violatedDirective, blocked: event.blockedURI, source: event.sourceFile });
});

function status(text) {
  post({ op: "status", state: "loading", text });
}

async function fetchJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}; rebuild with "python build.py"`);
  return response.json();
}

// On a first visit the service worker does not control the page yet, so it has not seen
// the model go by: store the verified bytes where it looks for them (site/sw.js).
async function saveModelFile(url, bytes, sha256) {
  const cache = await caches.open("hearth-models");
  const saved = await cache.match(url);
  if (saved && saved.headers.get("X-Hearth-Sha256") === sha256) return;
  const headers = { "Content-Type": "application/octet-stream", "X-Hearth-Sha256": sha256 };
  await cache.put(url, new Response(bytes, { headers }));
}

// The default model's files are downloaded and hashed while Pyodide boots, instead of
// after it: Python's first download of a file (and its hash of those bytes) gets the
// result. Python still checks sizes and hashes against the manifest as before, and a
// second download of the same file (a damaged saved copy) goes to the network.
function prefetchModel(engine, config, files) {
  const entry = config.models[0];
  const early = new Map(); // absolute URL -> promise of {bytes, received}
  const digests = new WeakMap(); // bytes -> promise of their sha256
  for (const name of [entry.graph, ...entry.data]) {
    const url = new URL(entry.path + name, self.location.href).href;
    const { size, sha256 } = files[entry.path + name];
    const download = engine.download(url, size, () => {});
    download.then(({ bytes }) => {
      const digest = engine.sha256Hex(bytes);
      digests.set(bytes, digest);
      digest.then((found) => found === sha256 && saveModelFile(url, bytes, sha256)).catch(() => {});
    }, () => {});
    early.set(url, download);
  }
  return {
    ...engine,
    async download(url, expected, onProgress) {
      const download = early.get(url);
      early.delete(url);
      const result = download && (await download.catch(() => null));
      if (!result) return engine.download(url, expected, onProgress);
      onProgress(result.received);
      return result;
    },
    sha256Hex: (bytes) => digests.get(bytes) ?? engine.sha256Hex(bytes),
    // once the app has started: a prefetch it did not use (another backend) is let go
    release: () => early.clear(),
  };
}

async function boot() {
  status("Starting Python…");
  const [config, manifest, engine] = await Promise.all([
    fetchJSON("./app-config.json"), fetchJSON("./manifest.json"), import("./engine.js"),
  ]);
  const models = prefetchModel(engine, config, manifest.files);
  const pyodideDir = new URL(config.vendor.pyodide, self.location.href).href;
  const [{ loadPyodide }, pyappZip, store] = await Promise.all([
    import(pyodideDir + "pyodide.mjs"),
    fetch("./pyapp.zip").then((r) => {
      if (!r.ok) throw new Error(`pyapp.zip answered HTTP ${r.status}; rebuild with "python build.py"`);
      return r.arrayBuffer();
    }),
    import("./store.js"),
  ]);
  const pyodide = await loadPyodide({ indexURL: pyodideDir, env: { HOME: "/home/pyodide" } });
  pyodide.unpackArchive(pyappZip, "zip", { extractDir: "/home/pyodide" });
  await helloReceived;
  pyodide.registerJsModule("hearth_host", {
    post,
    config,
    query: hello.query,
    bootMs: () => performance.now() - started,
    engine: models,
    store,
    listen(handler) {
      listener = (event) => handler(event);
      for (const event of pending.splice(0)) listener(event);
    },
  });
  const main = pyodide.pyimport("pyapp.browser.main");
  await main.start();
  models.release();
}

boot().catch((error) => {
  post({ op: "boot_error", message: String((error && error.message) || error) });
});
