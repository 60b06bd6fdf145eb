// Main-thread boot feedback while Python starts in its worker.
// Python owns the status line once it runs; until then this mirrors PyScript's
// progress events, and turns a failed boot into the visible error banner.
const status = document.getElementById("status");
const banner = document.getElementById("error");

function showBootError(message) {
  status.dataset.state = "error";
  status.textContent = "Python failed to start";
  document.getElementById("error-text").textContent =
    `${message} — reload the page; if it persists, rebuild with "python build.py".`;
  banner.hidden = false;
}

addEventListener("py:progress", ({ detail }) => {
  if (status.dataset.state === "loading") status.textContent = `${detail}…`;
});
addEventListener("error", (event) => {
  if (status.dataset.state === "loading") showBootError(event.message || String(event.error));
});
addEventListener("unhandledrejection", (event) => {
  if (status.dataset.state === "loading") showBootError(String(event.reason));
});
if (!crossOriginIsolated) {
  console.warn("Hearth: page is not cross-origin isolated; WASM threads are off. Serve it with serve.py.");
}
// The form never navigates: Send (button or Enter) is handled by Python in the worker.
const composer = document.getElementById("composer");
const prompt = document.getElementById("prompt");
composer.addEventListener("submit", (event) => event.preventDefault());
prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    prompt.dispatchEvent(new CustomEvent("hearth-send"));
  }
});
document.getElementById("error-close").addEventListener("click", () => { banner.hidden = true; });
