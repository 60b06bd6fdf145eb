// Hearth's Web Worker: boots Pyodide from the vendored files and runs pyapp in it.
//
// Python never touches the DOM. It posts small commands ({op: ...}) to the main thread,
// whose renderer (ui.js) applies them, and receives the page's events ({type: ...}) here.
// Everything Python needs from JS is in one module it imports as `hearth_host`, so no
// JavaScript is ever evaluated from a string (the page's CSP forbids it).

import { fetchBytes, startPython } from "./python.js";

const started = performance.now();
const pending = []; // page events that arrive before Python listens
let listener = null;
let hello = null;
let helloArrived;
const helloReceived = new Promise((resolve) => { helloArrived = resolve; });

function deliver(event) {
  if (listener) listener(event);
  else pending.push(event);
}

self.onmessage = ({ data }) => {
  if (data && data.type === "hello") {
    hello = data;
    helloArrived();
  } else {
    deliver(data);
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
  return JSON.parse(new TextDecoder().decode(await fetchBytes(url)));
}

// The model worker (site/model.js), and the calls Python makes to it: `hearth_host.model`.
// Each call is a message with an id; its answer (or error) settles the promise, and
// progress messages in between go to the call's last argument when it is a function.
function modelWorker() {
  const worker = new Worker("./model.js", { type: "module" });
  const calls = new Map();
  let next = 1;
  let broken = null;
  worker.onmessage = ({ data }) => {
    const call = calls.get(data.id);
    if (!call) return;
    if ("progress" in data) {
      call.onProgress?.(data.progress);
      return;
    }
    calls.delete(data.id);
    if ("error" in data) call.reject(new Error(data.error));
    else call.resolve(data.value);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    broken = new Error(`the model worker stopped (${event.message || "it could not start"}); reload the page`);
    for (const call of calls.values()) call.reject(broken);
    calls.clear();
  };
  const call = (op, ...args) => {
    if (broken) return Promise.reject(broken);
    const onProgress = typeof args.at(-1) === "function" ? args.pop() : null;
    const id = next++;
    return new Promise((resolve, reject) => {
      calls.set(id, { resolve, reject, onProgress });
      worker.postMessage({ id, op, args });
    });
  };
  call("origin", performance.timeOrigin + started); // one clock for the boot's phases
  const early = new Map(); // URL -> {sha256, text: promise}, until Python asks for it
  const decoder = (handle) => ({
    step: (ids) => call("step", handle, ids),
    truncate: (length) => call("truncate", handle, length),
    release: () => call("release", handle),
  });
  return {
    plan: (threads) => call("plan", threads),
    prefetch: (args) => call("prefetch", args),
    fetch: (files, onProgress) => call("fetch", files, onProgress),
    // Python's first ask for a file read at page load takes that read (see prefetchModel)
    text: (file) => {
      const found = early.get(file.url);
      early.delete(file.url);
      if (!found || found.sha256 !== file.sha256) return call("text", file);
      bootMarks.tokenizer_taken = (performance.now() - started) / 1000; // set by this hand-over only
      return found.text;
    },
    readEarly: (file) => {
      const text = call("text", file);
      text.catch(() => {}); // Python's own ask then reports it
      early.set(file.url, { sha256: file.sha256, text });
    },
    forget: (urls) => call("forget", urls),
    open: async (spec) => decoder(await call("open", spec)),
    phases: () => call("phases"),
  };
}

// Start the default model at once, beside Pyodide's boot, unless this visit will not use
// the model in the page (the Foundry backend, saved or in the URL). Python's own requests
// for the same files and session then take what is ready (site/model.js). The tokenizer,
// which Python reads itself, is asked for here too: asked for only once Python has booted,
// it waited for the model worker to finish opening the session (one synchronous call of a
// second or more), which put its read on the critical path.
async function prefetchModel(model, config, files, settings) {
  const { backend, threads } = await settings;
  if (backend === "foundry") return;
  const entry = config.models[0];
  const url = (name) => new URL(entry.path + name, self.location.href).href;
  const names = [entry.graph, ...entry.data, ...(entry.weights ? [entry.weights] : [])];
  const ortUrls = Object.fromEntries(Object.entries(config.ort).map(([ep, path]) => [ep, new URL(path, self.location.href).href]));
  const { layers, kv_heads: kvHeads, head_size: headSize } = entry.shape;
  const prefetched = model.prefetch({
    files: names.map((name) => ({ url: url(name), ...files[entry.path + name] })),
    spec: {
      ortUrls,
      graph: url(entry.graph),
      data: entry.data.map((name) => ({ path: name, url: url(name) })),
      recipe: entry.weights ? url(entry.weights) : null,
      shape: { layers, kvHeads, headSize },
    },
    threads,
  });
  const tokenizer = files[entry.path + entry.tokenizer];
  if (tokenizer) model.readEarly({ url: url(entry.tokenizer), ...tokenizer });
  await prefetched;
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

const bootMarks = {}; // seconds from this worker's start: when Pyodide was loaded, and how

async function boot() {
  status("Starting Python…");
  const model = modelWorker();
  const [config, manifest, store] = await Promise.all([
    fetchJSON("./app-config.json"), fetchJSON("./manifest.json"), import("./store.js"),
  ]);
  prefetchModel(model, config, manifest.files, earlySettings(store)).catch(() => {});
  store.onChatChange((id) => deliver({ type: "chat_changed", id })); // another tab saved it
  const pyodideDir = new URL(config.vendor.pyodide, self.location.href).href;
  const python = await startPython(pyodideDir, manifest.files["pyapp.zip"]?.sha256);
  bootMarks.pyodide_loaded = (performance.now() - started) / 1000;
  bootMarks.python_from_snapshot = python.from === "snapshot" ? 1 : 0;
  await helloReceived;
  python.pyodide.registerJsModule("hearth_host", {
    post,
    config,
    query: hello.query,
    tabChat: hello.tabChat ?? null,
    installed: python.installed,
    bootMs: () => performance.now() - started,
    bootMarks: () => ({ ...bootMarks }),
    model,
    store,
    listen(handler) {
      listener = (event) => handler(event);
      for (const event of pending.splice(0)) listener(event);
    },
  });
  await python.pyodide.pyimport("pyapp.browser.main").start();
}

boot().catch((error) => {
  post({ op: "boot_error", message: String((error && error.message) || error) });
});
