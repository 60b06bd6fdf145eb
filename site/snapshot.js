// Makes this build's Python snapshot (site/python.js says why), in a worker of its own so
// the app's Python, which holds JavaScript objects a snapshot cannot carry, stays as it is.
// site/worker.js starts it while the page is idle and ends it when a reply starts.
//
// In: { indexURL, build }. Out: { saved: true } or { error }.

import { HOME, fetchBytes, hasSnapshot, installWheels, readFiles, saveSnapshot } from "./python.js";

self.onmessage = async ({ data: { indexURL, build } }) => {
  try {
    // one tab at a time makes it; a tab that waited finds it made
    await navigator.locks.request("hearth-python-snapshot", () => make(indexURL, build));
    self.postMessage({ saved: true });
  } catch (error) {
    self.postMessage({ error: String((error && error.message) || error) });
  }
};

async function make(indexURL, build) {
  if (await hasSnapshot(build)) return;
  const [{ loadPyodide }, zip] = await Promise.all([
    import(indexURL + "pyodide.mjs"),
    fetchBytes("./pyapp.zip"),
  ]);
  const pyodide = await loadPyodide({ indexURL, env: { HOME }, _makeSnapshot: true });
  pyodide.unpackArchive(zip, "zip", { extractDir: HOME });
  const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')");
  const preload = pyodide.pyimport("pyapp.browser.preload");
  const packages = preload.PACKAGES.toJs();
  preload.destroy();
  const installed = await installWheels(pyodide, indexURL, packages, sitePackages);
  pyodide.runPython("from pyapp.browser import preload; preload.warm(); del preload");
  const snapshot = pyodide.makeMemorySnapshot();
  await saveSnapshot(build, snapshot, { installed, contents: readFiles(pyodide.FS, [sitePackages, HOME]) });
}
