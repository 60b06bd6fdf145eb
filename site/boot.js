// The page's entry point: start the worker that runs Python, and connect it to the renderer.
// Until Python answers, the status line shows the worker's boot progress; a failed boot
// becomes the visible error banner.
import { Renderer } from "./ui.js";

const worker = new Worker("./worker.js", { type: "module" });
const ui = new Renderer(document, (event) => worker.postMessage(event));

worker.onmessage = ({ data }) => ui.apply(data);
worker.onerror = (event) => {
  event.preventDefault();
  ui.bootFailed(event.message || "the worker could not start");
};
worker.postMessage({ type: "hello", query: location.search });

if (!crossOriginIsolated) {
  console.warn("Hearth: page is not cross-origin isolated; WASM threads are off. Serve it with serve.py.");
}
