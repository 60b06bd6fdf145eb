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

// Everything the default model needs is started at once, while Pyodide boots, instead of
// after it: its files are downloaded and hashed, then its ONNX Runtime session is created.
// Python's first download of a file (and its hash of those bytes) gets the result, and its
// first Decoder.create() gets the early session when it asks for the same backend, threads
// and bytes. Python still checks sizes and hashes against the manifest as before; a second
// download of a file (a damaged saved copy) goes to the network, and a session it asks for
// with other arguments (WebGPU failed, a backend chosen elsewhere) is created anew.
function prefetchModel(engine, config, files, settings) {
  const entry = config.models[0];
  const early = new Map(); // absolute URL -> promise of {bytes, received}
  const digests = new WeakMap(); // bytes -> promise of their sha256
  const clock = {}; // seconds from the worker's start: when each early step ended
  const verified = [];
  for (const name of [entry.graph, ...entry.data]) {
    const url = new URL(entry.path + name, self.location.href).href;
    const { size, sha256 } = files[entry.path + name];
    const download = engine.download(url, size, () => {});
    verified.push(download.then(async ({ bytes, received }) => {
      const digest = engine.sha256Hex(bytes);
      digests.set(bytes, digest);
      const good = received === size && (await digest) === sha256;
      if (good) saveModelFile(url, bytes, sha256).catch(() => {});
      return good ? { name, bytes } : null;
    }));
    early.set(url, download);
  }
  let session = openEarly(engine, config, entry, verified, settings, clock).catch(() => null);
  const drop = async (pending) => {
    const opened = await pending;
    if (opened) await opened.decoder.catch(() => null).then((d) => d?.release());
  };
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
    Decoder: {
      async create(ortUrl, graph, externalData, shape, ep, threads) {
        const opened = await session;
        session = null;
        if (opened && opened.ep === ep && opened.threads === threads && opened.graph === graph) {
          clock.session_taken = (performance.now() - started) / 1000;
          return opened.decoder;
        }
        await drop(opened);
        return engine.Decoder.create(ortUrl, graph, externalData, shape, ep, threads);
      },
    },
    // the early steps' end times, for the benchmark's phase breakdown (data-phases)
    earlyPhases: () => ({ ...clock }),
    // once the app has started: a prefetch or session it did not use (another backend) goes
    release() {
      early.clear();
      if (session) drop(session);
      session = null;
    },
  };
}

// The early session, unless this visit will not use the model in the page (the Foundry
// backend, saved or in the URL). Resolves to null when it was not started; `decoder` is a
// promise, so a failure (WebGPU refusing the model) reaches Python's create() as before.
async function openEarly(engine, config, entry, verified, settings, clock) {
  const { backend, threads } = await settings;
  if (backend === "foundry") return null;
  const files = await Promise.all(verified);
  clock.model_bytes_done = (performance.now() - started) / 1000;
  if (files.includes(null)) return null; // Python reports the damage and downloads again
  const plan = await engine.plan(threads);
  const [graph, ...data] = files;
  const externalData = data.map(({ name, bytes }) => ({ path: name, data: bytes }));
  const { layers, kv_heads: kvHeads, head_size: headSize } = entry.shape;
  const ortUrl = new URL(config.ort[plan.ep], self.location.href).href;
  const decoder = engine.Decoder.create(ortUrl, graph.bytes, externalData, { layers, kvHeads, headSize }, plan.ep, plan.threads);
  decoder.then(() => { clock.session_done = (performance.now() - started) / 1000; }, () => {});
  return { decoder, ep: plan.ep, threads: plan.threads, graph: graph.bytes };
}

// What the early session must guess the way Python will decide it (pyapp/settings.py): the
// backend (the URL's, else the saved one) and `?threads=` (a whole number from 1 to 64).
async function earlySettings(store) {
  await helloReceived;
  const query = new URLSearchParams(hello.query);
  let backend = query.get("backend");
  if (backend === null) {
    const saved = await store.get("kv", "settings").catch(() => null);
    try {
      backend = saved ? JSON.parse(saved).backend : null;
    } catch {
      backend = null;
    }
  }
  const asked = query.get("threads") ?? "";
  const threads = /^[0-9]{1,2}$/.test(asked) && +asked >= 1 && +asked <= 64 ? +asked : 0;
  return { backend, threads };
}

async function boot() {
  status("Starting Python…");
  const [config, manifest, engine, store] = await Promise.all([
    fetchJSON("./app-config.json"), fetchJSON("./manifest.json"), import("./engine.js"), import("./store.js"),
  ]);
  const models = prefetchModel(engine, config, manifest.files, earlySettings(store));
  const pyodideDir = new URL(config.vendor.pyodide, self.location.href).href;
  const [{ loadPyodide }, pyappZip] = await Promise.all([
    import(pyodideDir + "pyodide.mjs"),
    fetch("./pyapp.zip").then((r) => {
      if (!r.ok) throw new Error(`pyapp.zip answered HTTP ${r.status}; rebuild with "python build.py"`);
      return r.arrayBuffer();
    }),
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
