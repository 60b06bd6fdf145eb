// The page's entry point: start the worker that runs Python, and connect it to the renderer.
// The worker starts at once; its first commands wait here while DOMPurify (which the
// renderer needs for every reply) loads. A failed boot becomes the visible error banner.
import { Renderer } from "./ui.js";

const worker = new Worker("./worker.js", { type: "module" });
const early = [];
let ui = null;

worker.onmessage = ({ data }) => (ui ? ui.apply(data) : early.push(data));
worker.onerror = (event) => {
  event.preventDefault();
  const message = event.message || "the worker could not start";
  if (ui) ui.bootFailed(message);
  else early.push({ op: "boot_error", message });
};
worker.postMessage({ type: "hello", query: location.search });

async function loadPurify() {
  const response = await fetch("./app-config.json");
  if (!response.ok) throw new Error(`app-config.json answered HTTP ${response.status}`);
  const config = await response.json();
  const module = await import(`${config.vendor.dompurify}purify.es.mjs`);
  return module.default;
}

loadPurify()
  .then((purify) => {
    ui = new Renderer(document, (event) => worker.postMessage(event), purify);
    for (const command of early.splice(0)) ui.apply(command);
  })
  .catch((error) => {
    const status = document.getElementById("status");
    status.dataset.state = "error";
    status.textContent = "Hearth failed to start";
    document.getElementById("error-text").textContent =
      `The page's own files did not load (${error.message}). Rebuild with "python build.py" and reload.`;
    document.getElementById("error").hidden = false;
  });

if (!crossOriginIsolated) {
  console.warn("Hearth: page is not cross-origin isolated; WASM threads are off. Serve it with serve.py.");
}
