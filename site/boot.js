// The page's entry point: start the worker that runs Python, and connect it to the renderer.
// The worker starts at once; its first commands wait here while DOMPurify (which the
// renderer needs for every reply) loads. A failed boot becomes the visible error banner.
import { Renderer, TAB_CHAT } from "./ui.js";

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
// This tab's open chat (site/ui.js `op_tab_chat`): a reload reopens it, whatever another
// tab opened since; a new tab has none and opens the profile's last one.
let tabChat = null;
try {
  tabChat = sessionStorage.getItem(TAB_CHAT);
} catch {
  // no sessionStorage (a sandboxed frame): every reload opens the profile's last chat
}
worker.postMessage({ type: "hello", query: location.search, tabChat });

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

// The service worker (sw.js) keeps the app and the model for offline visits, and adds the
// cross-origin isolation headers where the server sends none (a static host). A page that
// loaded without them is reloaded once, as soon as the worker controls it, to get threads.
async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("./sw.js");
  } catch (error) {
    console.warn(`Hearth: no offline copy (${error.message}).`);
    return;
  }
  if (crossOriginIsolated) return;
  const reloaded = sessionStorage.getItem("hearth-isolation-reload");
  if (reloaded) {
    console.warn("Hearth: page is not cross-origin isolated; WASM threads are off.");
    return;
  }
  const reload = () => {
    sessionStorage.setItem("hearth-isolation-reload", "1");
    location.reload();
  };
  if (navigator.serviceWorker.controller) reload();
  else navigator.serviceWorker.addEventListener("controllerchange", reload, { once: true });
}

registerServiceWorker();
// Ask the browser not to evict the saved chats and the model under storage pressure.
navigator.storage?.persist?.().catch(() => {});
