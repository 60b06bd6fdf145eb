// Runs one measurement in a module worker and resolves with its figures (a file of its own:
// the pages' CSP allows no inline script).
window.runBench = (config) => new Promise((resolve, reject) => {
  const worker = new Worker("./ort_loop_worker.js", { type: "module" });
  worker.onmessage = ({ data }) => {
    if (data.log) { document.getElementById("log").textContent = data.log; return; }
    worker.terminate();
    data.error ? reject(new Error(data.error)) : resolve(data);
  };
  worker.onerror = (e) => { worker.terminate(); reject(new Error(e.message)); };
  worker.postMessage(config);
});
