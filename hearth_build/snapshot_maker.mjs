// Makes Python's memory snapshot for the page, in Node, at build time (hearth_build/snapshot.py
// runs it; site/python.js restores it in the page). Same Pyodide, same wheels, same pyapp.zip
// as the page's: Pyodide boots with `_makeSnapshot`, the boot packages are installed from
// pyodide-lock.json (sha256-checked, pure Python only), the app is imported and warmed
// (pyapp/browser/preload.py), and Python's memory is written out with the files that live
// in JavaScript, outside it.
//
// node snapshot_maker.mjs <dist> <pyodide dir inside dist> <out dir>
// It runs beside a copy of site/python.js named python.mjs (Node reads .js as CommonJS).

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dist, pyodideDir, out] = process.argv.slice(2);
// Emscripten copies Node's argv into Python's memory: the snapshot would carry the build
// machine's paths (and differ between machines), so it sees none
process.argv = process.argv.slice(0, 1);
const indexURL = join(dist, pyodideDir) + "/";
// python.js fetches the lock and the wheels; here they are files (as plain Uint8Arrays:
// Pyodide refuses Node's Buffer)
const bytes = (path) => new Uint8Array(readFileSync(path));
globalThis.fetch = async (path) => new Response(bytes(path));

const { HOME, encodeFiles, installWheels, readFiles, sha256 } = await import("./python.mjs");
const { loadPyodide } = await import(indexURL + "pyodide.mjs");
const pyodide = await loadPyodide({ indexURL, env: { HOME }, _makeSnapshot: true });
const pyapp = bytes(join(dist, "pyapp.zip"));
pyodide.unpackArchive(pyapp, "zip", { extractDir: HOME });
// (under Node, sysconfig says "//lib/..."; the page's Python says "/lib/...")
const sitePackages = pyodide.runPython("import sysconfig; '/' + sysconfig.get_path('purelib').lstrip('/')");
const preload = pyodide.pyimport("pyapp.browser.preload");
const packages = preload.PACKAGES.toJs();
preload.destroy();
const installed = await installWheels(pyodide, indexURL, packages, sitePackages);
pyodide.runPython("from pyapp.browser import preload; preload.warm(); del preload");
const snapshot = pyodide.makeMemorySnapshot();
const files = encodeFiles({
  installed,
  snapshotSha256: await sha256(snapshot),
  pyappSha256: await sha256(pyapp), // the page boots from scratch if its pyapp.zip is another
  contents: readFiles(pyodide.FS, [sitePackages, HOME]),
});
writeFileSync(join(out, "python.snapshot"), snapshot);
writeFileSync(join(out, "python.files"), files);
console.log(JSON.stringify({ snapshot: snapshot.length, files: files.length, installed }));
