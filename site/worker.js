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

async function boot() {
  status("Starting Python…");
  const config = await fetchJSON("./app-config.json");
  const pyodideDir = new URL(config.vendor.pyodide, self.location.href).href;
  const [{ loadPyodide }, pyappZip, engine, store] = await Promise.all([
    import(pyodideDir + "pyodide.mjs"),
    fetch("./pyapp.zip").then((r) => {
      if (!r.ok) throw new Error(`pyapp.zip answered HTTP ${r.status}; rebuild with "python build.py"`);
      return r.arrayBuffer();
    }),
    import("./engine.js"),
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
    engine,
    store,
    importModule: (url) => import(url),
    listen(handler) {
      listener = (event) => handler(event);
      for (const event of pending.splice(0)) listener(event);
    },
  });
  const main = pyodide.pyimport("pyapp.browser.main");
  await main.start();
}

boot().catch((error) => {
  post({ op: "boot_error", message: String((error && error.message) || error) });
});
