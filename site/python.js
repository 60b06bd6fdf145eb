// Booting Python for the app worker (site/worker.js), from the build's memory snapshot, or
// from scratch when that cannot be used.
//
// From scratch, Pyodide starts the interpreter and the app imports its modules and the
// boot packages (jinja2, markdown-it-py, pygments): 2.5-5 s of one core, the longest step
// of a load. The snapshot is Python's whole memory after all of that, made by build.py in
// Node (hearth_build/snapshot_maker.mjs) and shipped as two files of the build:
// python.snapshot, and python.files with the files it needs (the packages' and pyapp's,
// which live in JavaScript, outside that memory). Restoring it is a copy, so every visit
// boots from it, the first and the offline ones (the service worker precaches both files)
// included. One that does not check out (its sha256, another Pyodide build, another
// pyapp.zip) is reported and Python boots from scratch.

export const HOME = "/home/pyodide";

/** Hex sha256 (WebCrypto: the page's and Node's, so the build's maker uses it too). */
export async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}; rebuild with "python build.py"`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * Python, ready to import pyapp: `{ pyodide, from, installed }`, where `from` says how it
 * booted ("snapshot" or "scratch") and `installed` names the packages already in it.
 * `pyappSha256` is the manifest's hash of pyapp.zip: a snapshot made from another one (a
 * build that was not finished) would run stale code, so it is not used.
 */
export async function startPython(indexURL, pyappSha256) {
  try {
    const [snapshot, files] = await Promise.all([fetchBytes("./python.snapshot"), fetchBytes("./python.files")]);
    const saved = { snapshot, files: decodeFiles(files) };
    if (saved.files.pyappSha256 !== pyappSha256) throw new Error("it was made from another pyapp.zip; rebuild with \"python build.py\"");
    const pyodide = await restore(indexURL, saved);
    return { pyodide, from: "snapshot", installed: saved.files.installed };
  } catch (error) {
    console.warn(`Hearth: Python's snapshot could not be used (${error.message}); starting Python from scratch`);
  }
  const [{ loadPyodide }, zip] = await Promise.all([import(indexURL + "pyodide.mjs"), fetchBytes("./pyapp.zip")]);
  const pyodide = await loadPyodide({ indexURL, env: { HOME } });
  pyodide.unpackArchive(zip, "zip", { extractDir: HOME });
  return { pyodide, from: "scratch", installed: [] };
}

async function restore(indexURL, { snapshot, files }) {
  const [{ loadPyodide }, asm] = await Promise.all([import(indexURL + "pyodide.mjs"), import(indexURL + "pyodide.asm.mjs")]);
  const checked = sha256(snapshot).then((hash) => {
    if (hash !== files.snapshotSha256) throw new Error("the snapshot is damaged (its sha256 differs)");
    return snapshot;
  });
  // Before Python runs: write the files back, and grow the memory to the snapshot's size
  // (Pyodide sizes it for a fresh interpreter, and cannot copy a larger one in).
  const heapBytes = snapshot.length - new Uint32Array(snapshot.buffer, snapshot.byteOffset, 2)[1];
  const createPyodideModule = (settings) => asm.default({
    ...settings,
    preRun: [...settings.preRun, (Module) => {
      writeFiles(Module.FS, files);
      if (Module.HEAP8.length < heapBytes && !Module.growMemory(heapBytes)) {
        throw new Error("the browser would not give Python the memory its snapshot needs");
      }
    }],
  });
  checked.catch(() => {}); // loadPyodide reports it; this only keeps it from showing twice
  const pyodide = await loadPyodide({ indexURL, env: { HOME }, _loadSnapshot: checked, createPyodideModule });
  pyodide._api.config._loadSnapshot = undefined; // its 45 MB are in Python's memory now
  return pyodide;
}

// The files: a 4-byte length, that many bytes of JSON ({ paths: [[path, size], ...], ... }),
// then every file's bytes in that order (exported for tests/unit/test_python_js.py).
export function encodeFiles({ contents, ...meta }) {
  const paths = contents.map(([path, data]) => [path, data.length]);
  const head = new TextEncoder().encode(JSON.stringify({ ...meta, paths }));
  const total = 4 + head.length + contents.reduce((sum, [, data]) => sum + data.length, 0);
  const body = new Uint8Array(total);
  new DataView(body.buffer).setUint32(0, head.length, true);
  body.set(head, 4);
  let at = 4 + head.length;
  for (const [, data] of contents) {
    body.set(data, at);
    at += data.length;
  }
  return body;
}

export function decodeFiles(body) {
  const length = new DataView(body.buffer, body.byteOffset).getUint32(0, true);
  const { paths, ...meta } = JSON.parse(new TextDecoder().decode(body.subarray(4, 4 + length)));
  let at = 4 + length;
  const contents = paths.map(([path, size]) => {
    const data = body.subarray(at, at + size);
    at += size;
    return [path, data];
  });
  if (at !== body.length) throw new Error("the snapshot's files are damaged (their sizes do not add up)");
  return { ...meta, contents };
}

export function writeFiles(FS, { contents }) {
  for (const [path, data] of contents) {
    FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
    FS.writeFile(path, data, { canOwn: true });
  }
}

/** Every file under these folders, as [path, bytes] pairs. */
export function readFiles(FS, folders) {
  const found = [];
  const walk = (folder) => {
    for (const name of FS.readdir(folder)) {
      if (name === "." || name === "..") continue;
      const path = `${folder}/${name}`;
      if (FS.isDir(FS.stat(path).mode)) walk(path);
      else found.push([path, FS.readFile(path)]);
    }
  };
  folders.forEach(walk);
  return found;
}

/**
 * Installs these packages and what they depend on from the vendored wheels, as Pyodide's
 * loadPackage would (same lock file, same sha256 check), but without its bookkeeping in
 * JavaScript, which a snapshot cannot carry; pure-Python wheels only. Returns the names.
 */
export async function installWheels(pyodide, indexURL, names, sitePackages) {
  const lock = JSON.parse(new TextDecoder().decode(await fetchBytes(indexURL + "pyodide-lock.json")));
  const wanted = new Set();
  const visit = (name) => {
    const key = name.toLowerCase().replace(/[_.]+/g, "-");
    if (wanted.has(key)) return;
    const entry = lock.packages[key];
    if (!entry) throw new Error(`${name} is not in pyodide-lock.json; rebuild with "python build.py"`);
    wanted.add(key);
    entry.depends.forEach(visit);
  };
  names.forEach(visit);
  for (const key of wanted) {
    const entry = lock.packages[key];
    // a compiled extension lives in WebAssembly's function table, which a snapshot of
    // memory does not carry: after a restore, the first call into it would crash Python
    if (!entry.file_name.endsWith("-none-any.whl")) throw new Error(`${entry.file_name} is compiled; a snapshot cannot carry it`);
    const wheel = await fetchBytes(indexURL + entry.file_name);
    if ((await sha256(wheel)) !== entry.sha256) throw new Error(`${entry.file_name} does not match pyodide-lock.json`);
    pyodide.unpackArchive(wheel, "zip", { extractDir: sitePackages });
  }
  return [...wanted];
}
