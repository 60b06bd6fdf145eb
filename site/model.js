// Hearth's model worker: reads and verifies the model's files, rebuilds its fp32 weights
// (site/weights.js), and owns the ONNX Runtime session and its KV cache (site/engine.js),
// on a thread of its own. Python's worker (site/worker.js) starts it and drives it with
// small messages: a few at load, then one round trip per token (a fraction of a
// millisecond beside a token's tens).
//
// Why a thread of its own: opening the session is one synchronous call of a second or
// more. In Python's worker it held up Pyodide's boot, so the two ran one after the other
// even when both were started at page load. Here the model is read, its weights rebuilt
// and its session opened while Python boots.
//
// It starts on the default model at once (the "prefetch" message) unless the page will
// not use it; Python's first requests for the same files and session take what it has.
// Every file's sha256 is computed as it arrives and Python checks it against the manifest
// before it asks for a session; a saved copy whose bytes do not match is forgotten and
// downloaded again. Hashing runs beside the session's creation, not before it.
//
// Messages in: {id, op, args}; out: {id, value} | {id, error} | {id, progress: bytes}.

import * as engine from "./engine.js";
import { kernels, unpack, unpacked } from "./weights.js";

const MODEL_CACHE = "hearth-models"; // site/sw.js serves the model from it offline
const HASH_HEADER = "X-Hearth-Sha256";
// seconds from Python's worker's start (its `origin` op), when each early step ended
let origin = performance.timeOrigin;
const clock = {};
const mark = (name) => { clock[name] = (performance.timeOrigin + performance.now() - origin) / 1000; };

// the weights' rebuilding loops (site/dequant.wat), fetched once and at once
const dequant = engine.readBytes(new URL("./dequant.wasm", import.meta.url).href);
dequant.catch(() => {}); // reported by the session that needs it

const held = new Map(); // URL -> {file: promise of {bytes, received, sha256: promise, saved}, ...}
const decoders = new Map(); // handle -> Decoder
let nextHandle = 1;
let early = null; // {key, decoder: promise, urls: its files} from the prefetch, until Python takes or drops it

// A saved copy that this build's manifest vouches for (its stored hash is the expected
// one), else the network. `saved` says where the bytes came from.
async function read(url, size, sha256, onProgress) {
  const cache = await caches.open(MODEL_CACHE).catch(() => null);
  const copy = await cache?.match(url).catch(() => null);
  if (copy && copy.headers.get(HASH_HEADER) === sha256) {
    const bytes = new Uint8Array(await copy.arrayBuffer());
    onProgress(bytes.length);
    return { bytes, received: bytes.length, saved: true };
  }
  const { bytes, received } = await engine.download(url, size, onProgress);
  return { bytes, received, saved: false };
}

// On a first visit the service worker does not control the page yet, so it has not seen
// the model go by: store the verified bytes where it looks for them. A failed store (a
// full quota) only means the next visit downloads them again.
async function save(url, bytes, sha256) {
  const cache = await caches.open(MODEL_CACHE);
  const saved = await cache.match(url);
  if (saved && saved.headers.get(HASH_HEADER) === sha256) return;
  const headers = {
    "Content-Type": "application/octet-stream",
    "Content-Length": String(bytes.length), // what Settings count as the model's storage
    [HASH_HEADER]: sha256,
  };
  await cache.put(url, new Response(bytes, { headers }));
}

// Start reading one file, or join the read already under way: a listener joining late
// hears the bytes already read at once, then the rest as they come.
function fetchFile({ url, size, sha256 }, onProgress) {
  if (!held.has(url)) {
    const listeners = new Set();
    const entry = { listeners, progress: 0 };
    const hear = (bytes) => {
      entry.progress += bytes;
      for (const listener of listeners) listener(bytes);
    };
    entry.file = read(url, size, sha256, hear).then((file) => {
      file.sha256 = engine.sha256Hex(file.bytes);
      file.sha256.then((digest) => {
        if (!file.saved && digest === sha256 && file.received === size) save(url, file.bytes, sha256).catch(() => {});
      }, () => {});
      return file;
    });
    entry.file.catch(() => held.get(url) === entry && held.delete(url)); // tried afresh next time
    held.set(url, entry);
  }
  const entry = held.get(url);
  if (entry.progress) onProgress(entry.progress);
  entry.listeners.add(onProgress);
  return entry.file.finally(() => entry.listeners.delete(onProgress));
}

async function fetchFiles(files, onProgress) {
  const results = await Promise.all(files.map((file) => fetchFile(file, onProgress)));
  return Promise.all(results.map(async ({ received, sha256, saved }) => ({ received, sha256: await sha256, saved })));
}

// A file of the model that Python reads itself (the tokenizer): read, hashed and saved like
// the session's files, so an offline visit finds it even when it was read before the
// service worker controlled the page. Its text comes back with what arrived, for Python to
// check against the manifest; the worker keeps no copy.
async function text(file) {
  const [result] = await fetchFiles([file], () => {});
  const bytes = await bytesOf(file.url);
  held.delete(file.url);
  return { ...result, text: new TextDecoder().decode(bytes) };
}

// Drop these files (held bytes, saved copies, a session opened from them); true if a
// saved copy was there.
async function forget(urls) {
  if (early && urls.some((url) => early.urls.includes(url))) {
    await drop(early.decoder);
    early = null;
  }
  for (const url of urls) held.delete(url);
  const cache = await caches.open(MODEL_CACHE).catch(() => null);
  let found = false;
  for (const url of urls) found = Boolean(await cache?.delete(url).catch(() => false)) || found;
  return found;
}

async function bytesOf(url) {
  if (!held.has(url)) throw new Error(`${url} was not downloaded first`);
  return (await held.get(url).file).bytes;
}

// The session for `spec`: {ortUrl, graph: url, data: [{path, url}], recipe: url | null,
// shape, ep, threads}. On WASM the rebuilt weights are produced one tensor at a time as
// ONNX Runtime copies them in (weights.js `unpacked`), so they never exist twice; the
// loops' instance, and the memory it grew to the largest weight, go with the session's
// creation.
async function create(spec) {
  const externalData = [];
  for (const { path, url } of spec.data) externalData.push({ path, data: await bytesOf(url) });
  let weights = null;
  if (spec.recipe) {
    const recipe = JSON.parse(new TextDecoder().decode(await bytesOf(spec.recipe)));
    const source = externalData.find(({ path }) => path === recipe.source);
    if (!source) throw new Error(`${recipe.source} is missing: rebuild with "python build.py"`);
    const loops = await kernels(await dequant);
    weights = spec.ep === "wasm" ? unpacked(recipe, source.data, loops) : unpack(recipe, source.data, loops);
    externalData.push({ path: recipe.file, data: weights });
  }
  const graph = await bytesOf(spec.graph);
  const creating = performance.now();
  const decoder = await engine.Decoder.create(spec.ortUrl, graph, externalData, spec.shape, spec.ep, spec.threads);
  // durations of the last session's creation and, within it, of rebuilding the weights
  clock.session_create_s = (performance.now() - creating) / 1000;
  clock.weights_unpack_s = weights?.seconds ?? 0; // WebGPU's are rebuilt before, untimed
  return decoder;
}

const keyOf = (spec) => JSON.stringify([spec.graph, spec.recipe, spec.ep, spec.threads]);

async function drop(pending) {
  const decoder = await pending.catch(() => null);
  await decoder?.release();
}

async function open(spec) {
  let decoder;
  if (early && early.key === keyOf(spec)) {
    decoder = await early.decoder;
    mark("session_taken");
  } else {
    if (early) await drop(early.decoder);
    decoder = await create(spec);
  }
  early = null;
  const handle = nextHandle++;
  decoders.set(handle, decoder);
  return handle;
}

function decoder(handle) {
  const found = decoders.get(handle);
  if (!found) throw new Error("the model's session was released; reload the page");
  return found;
}

// The default model, read and opened at page load: {files, spec, threads}. The session
// waits for nothing but the bytes; Python checks the hashes before it takes it.
async function prefetch({ files, spec, threads }) {
  const plan = await engine.plan(threads);
  const full = { ...spec, ep: plan.ep, threads: plan.threads };
  if (plan.ep === "wasm") engine.warmUp(spec.ortUrls.wasm, plan.threads).then(() => mark("runtime_ready"), () => {});
  const reading = files.map((file) => fetchFile(file, () => {}));
  const decoder = Promise.all(reading).then(() => {
    mark("model_bytes_done");
    return create({ ...full, ortUrl: spec.ortUrls[plan.ep] });
  });
  decoder.then(() => mark("session_done"), () => {});
  early = { key: keyOf(full), decoder, urls: files.map(({ url }) => url) };
}

const ops = {
  origin: (epoch) => { origin = epoch; },
  plan: (threads) => engine.plan(threads),
  prefetch: (args) => prefetch(args),
  fetch: (files, onProgress) => fetchFiles(files, onProgress),
  text: (file) => text(file),
  forget: (urls) => forget(urls),
  open: (spec) => open(spec),
  step: (handle, ids) => decoder(handle).step(ids),
  truncate: (handle, length) => decoder(handle).truncate(length),
  release: async (handle) => {
    const found = decoders.get(handle);
    decoders.delete(handle);
    await found?.release();
  },
  phases: () => ({ ...clock }),
};

self.onmessage = async ({ data: { id, op, args } }) => {
  const onProgress = (bytes) => self.postMessage({ id, progress: bytes });
  try {
    const value = await ops[op](...args, onProgress);
    const transfer = value && value.values instanceof Float32Array ? [value.values.buffer, value.ids.buffer] : [];
    self.postMessage({ id, value }, transfer);
  } catch (error) {
    self.postMessage({ id, error: String((error && error.message) || error) });
  }
};
