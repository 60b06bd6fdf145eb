// The small JS half of Hearth's in-page engine, run in the model worker (site/model.js). It
// owns what must not cross into Python every token: the ORT session and its KV cache.
// Python asks for one step() per token and gets back only the graph's top-k logits and ids.
//
// On WASM the cache lives in the WebAssembly heap for the whole chat. ORT Web's public API
// copies every CPU input into the heap and every output out of it on each run(), which for
// the cache is O(context) per token (SmolLM2-135M: 46 KB per cached token, 46 MB at 1k
// tokens, three copies a token); decoding slowed from 25.8 to 12.3 tok/s at 1k context. So
// WASM goes through ORT's C API in the same pinned emscripten module ORT Web loads
// (ort-wasm-simd-threaded.mjs), as ORT GenAI does natively with IO binding: one
// capacity-sized buffer per cache tensor, bound as both `past_key_values.*` and `present.*`,
// which GroupQueryAttention updates in place (it checks that past and present share memory),
// and the page graph's prompt branch scatters into (hearth_build/model/attention.py). Per
// token only the ids, the attention mask and the top-k cross the heap boundary.
//
// WebGPU keeps ORT Web's public API, with the cache in GPU buffers swapped each step.
//
// Decoder.create(ortUrl, graph, externalData, shape, ep, threads)
//   ortUrl: URL of ORT Web's bundle for `ep` (vendor/ort-<v>/ort.webgpu.min.mjs on WebGPU,
//     ort.wasm.min.mjs on WASM: the binding loads ort-wasm-simd-threaded.mjs beside it);
//   graph: the page graph's bytes (Uint8Array); externalData: [{path, data}], data being a
//     Uint8Array or, on WASM, anything with ORT's mounted-file reads (weights.js unpacked());
//   shape: {layers, kvHeads, headSize}; ep: "webgpu" | "wasm"; threads: WASM threads.
// A decoder has step(ids) -> {values: Float32Array, ids: Int32Array}, truncate(length) and
// release().

// The cache grows in chunks of this many positions; growing copies the kept part once.
const CHUNK = 512;
const FLOAT = 1; // ONNX element types, as OrtCreateTensor takes them
const INT64 = 7;
const CPU = 1; // ORT Web's data location enum
const LOG_ERRORS = 3;
const TOP_K = 64; // the page graph's TopK (hearth_build/model/head.py)

function kvNames(layers) {
  const names = [];
  for (let i = 0; i < layers; i++) names.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
  return names;
}

const presentName = (name) => name.replace("past_key_values", "present");

export class Decoder {
  static async create(ortUrl, graph, externalData, shape, ep, threads) {
    if (ep === "wasm") return HeapDecoder.create(ortUrl, graph, externalData, shape, threads);
    return GpuDecoder.create(ortUrl, graph, externalData, shape, ep, threads);
  }
}

// Where the model runs in this page: WebGPU when the browser offers an adapter, else WASM,
// with `requested` threads (0: one per core, at most 4), and 1 thread when the page is not
// cross-origin isolated (no SharedArrayBuffer). Both the early session (site/model.js) and
// the app's (pyapp/browser/ort.py) ask here, so they agree.
export async function plan(requested) {
  const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
  const cores = Math.min(navigator.hardwareConcurrency || 1, 4);
  return {
    ep: adapter ? "webgpu" : "wasm",
    reason: adapter ? "WebGPU adapter found" : "no WebGPU adapter",
    threads: crossOriginIsolated ? requested || cores : 1,
    isolated: crossOriginIsolated,
  };
}

// One emscripten module per worker and thread count: ORT's thread pool is created once, by
// OrtInit, so a session with another thread count needs its own module.
const runtimes = new Map();

// A file's bytes, with an error that says what to do when the server lacks it. `cached`:
// from the Cache API when any cache holds the URL, so only for a URL that names its
// version (ORT's folder does; dequant.wasm's does not, and an older build's copy may still
// be cached during an update).
export async function readBytes(url, { cached = false } = {}) {
  const saved = cached ? await globalThis.caches?.match(url).catch(() => null) : null;
  const response = saved ?? (await fetch(url));
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}: rebuild with "python build.py"`);
  return response.arrayBuffer();
}

// The folder of ORT's bundle at `ortUrl`, where its WebAssembly builds lie beside it.
const folderOf = (ortUrl) => ortUrl.slice(0, ortUrl.lastIndexOf("/") + 1);

function loadRuntime(ortUrl, threads) {
  const folder = folderOf(ortUrl);
  if (!runtimes.has(threads)) {
    runtimes.set(threads, (async () => {
      // ORT's 14 MB WebAssembly: through the service worker's fetch, beside Python's own
      // files, it arrived 0.45 s into a warm load; from the cache, at 0.1-0.3 s, before the
      // model's bytes, which the session also waits for
      const [{ default: factory }, wasmBinary] = await Promise.all([
        import(`${folder}ort-wasm-simd-threaded.mjs`), readBytes(`${folder}ort-wasm-simd-threaded.wasm`, { cached: true }),
      ]);
      const wasm = await factory({ numThreads: threads, wasmBinary, locateFile: (file) => folder + file });
      if (wasm._OrtInit(threads, LOG_ERRORS) !== 0) throw new Error(lastError(wasm, "ONNX Runtime did not start"));
      return wasm;
    })());
  }
  return runtimes.get(threads);
}

// Compile ORT's WASM module and start its threads ahead of the first session; resolves
// when they are up (before a session waiting on them starts).
export function warmUp(ortUrl, threads) {
  return loadRuntime(ortUrl, threads);
}

function lastError(wasm, what) {
  const out = wasm._malloc(8);
  try {
    wasm._OrtGetLastError(out, out + 4);
    const message = wasm.getValue(out + 4, "*");
    return `${what}: ${message ? wasm.UTF8ToString(message) : `error ${wasm.getValue(out, "i32")}`}`;
  } finally {
    wasm._free(out);
  }
}

// The heap's current buffer: memory may have grown (on any thread) since the module last
// refreshed `HEAPU8`, and getValue() refreshes it.
function heap(wasm) {
  wasm.getValue(0, "i8");
  return wasm.HEAPU8.buffer;
}

// Capacity-sized KV buffers in the WASM heap, each wrapped once in an OrtValue that is fed
// as past_key_values.* and pre-bound as present.*.
class HeapCache {
  constructor(wasm, names, shape, capacity) {
    this.wasm = wasm;
    this.shape = shape;
    this.capacity = capacity;
    const { kvHeads, headSize } = shape;
    this.bytes = kvHeads * capacity * headSize * 4;
    this.buffers = names.map(() => wasm._malloc(this.bytes));
    if (this.buffers.includes(0)) {
      this.release();
      throw new Error(`Out of memory for a ${capacity}-token cache. Start a new chat or reload the page.`);
    }
    this.tensors = this.buffers.map((ptr) => tensor(wasm, FLOAT, ptr, this.bytes, [1, kvHeads, capacity, headSize]));
  }

  // A larger cache holding the first `length` positions of this one (per head, contiguous).
  grown(names, capacity, length) {
    const next = new HeapCache(this.wasm, names, this.shape, capacity);
    const { kvHeads, headSize } = this.shape;
    const floats = new Float32Array(heap(this.wasm));
    this.buffers.forEach((from, i) => {
      for (let h = 0; h < kvHeads; h++) {
        const src = from / 4 + h * this.capacity * headSize;
        floats.copyWithin(next.buffers[i] / 4 + h * capacity * headSize, src, src + length * headSize);
      }
    });
    this.release();
    return next;
  }

  release() {
    for (const t of this.tensors ?? []) this.wasm._OrtReleaseTensor(t);
    for (const ptr of this.buffers) if (ptr) this.wasm._free(ptr);
    this.tensors = this.buffers = [];
  }
}

function cString(wasm, text) {
  const size = wasm.lengthBytesUTF8(text) + 1;
  const ptr = wasm._malloc(size);
  wasm.stringToUTF8(text, ptr, size);
  return ptr;
}

function tensor(wasm, type, ptr, bytes, dims) {
  const dimsPtr = wasm._malloc(4 * dims.length);
  try {
    new Int32Array(heap(wasm), dimsPtr, dims.length).set(dims);
    const handle = wasm._OrtCreateTensor(type, ptr, bytes, dimsPtr, dims.length, CPU);
    if (!handle) throw new Error(lastError(wasm, "ONNX Runtime could not wrap a tensor"));
    return handle;
  } finally {
    wasm._free(dimsPtr);
  }
}

class HeapDecoder {
  static async create(ortUrl, graph, externalData, shape, threads) {
    const wasm = await loadRuntime(ortUrl, threads);
    const allocs = [];
    const string = (text) => allocs[allocs.push(cString(wasm, text)) - 1];
    const options = wasm._OrtCreateSessionOptions(99, false, false, 0, false, 0, 0, LOG_ERRORS, 0, 0);
    if (!options) throw new Error(lastError(wasm, "ONNX Runtime could not create session options"));
    const model = wasm._malloc(graph.byteLength);
    try {
      // fold the weights' DequantizeLinear nodes into fp32 constants at load time
      for (const [key, value] of [["session.disable_quant_qdq", "1"], ["session.use_ort_model_bytes_directly", "1"]]) {
        if (wasm._OrtAddSessionConfigEntry(options, string(key), string(value)) !== 0) {
          throw new Error(lastError(wasm, `ONNX Runtime refused ${key}`));
        }
      }
      for (const { path, data } of externalData) wasm.mountExternalData(path, data);
      new Uint8Array(heap(wasm)).set(graph, model);
      const session = await wasm._OrtCreateSession(model, graph.byteLength, options);
      if (!session) throw new Error(lastError(wasm, "ONNX Runtime could not open the model"));
      return new HeapDecoder(wasm, session, shape);
    } finally {
      wasm.unmountExternalData();
      wasm._free(model);
      wasm._OrtReleaseSessionOptions(options);
      allocs.forEach((ptr) => wasm._free(ptr));
    }
  }

  constructor(wasm, session, shape) {
    this.wasm = wasm;
    this.session = session;
    this.shape = shape;
    this.pastNames = kvNames(shape.layers);
    const inputs = ["input_ids", "attention_mask", ...this.pastNames];
    const outputs = ["topk_values", "topk_indices", ...this.pastNames.map(presentName)];
    // names, OrtValue slots and the top-k outputs live in the heap for the session's life
    this.names = [...inputs, ...outputs].map((name) => cString(wasm, name));
    this.slots = wasm._malloc(4 * 2 * (inputs.length + outputs.length)); // as many outputs as inputs
    this.count = inputs.length;
    const k = TOP_K;
    this.topk = wasm._malloc(k * 4 + k * 8);
    this.topkTensors = [
      tensor(wasm, FLOAT, this.topk, k * 4, [1, k]),
      tensor(wasm, INT64, this.topk + k * 4, k * 8, [1, k]),
    ];
    this.ids = { ptr: 0, size: 0 };
    this.mask = { ptr: 0, size: 0 };
    this.cache = new HeapCache(wasm, this.pastNames, shape, CHUNK);
    this.length = 0;
  }

  // A heap buffer of at least `size` int64 values, kept between steps.
  reserve(buffer, size, fill) {
    if (buffer.size >= size) return buffer.ptr;
    this.wasm._free(buffer.ptr);
    buffer.size = Math.ceil(size / CHUNK) * CHUNK;
    buffer.ptr = this.wasm._malloc(buffer.size * 8);
    if (!buffer.ptr) throw new Error("Out of memory for the model's inputs. Reload the page.");
    if (fill) new BigInt64Array(heap(this.wasm), buffer.ptr, buffer.size).fill(fill);
    return buffer.ptr;
  }

  // Keep the first `length` cached positions: the buffers stay, later steps overwrite the rest.
  async truncate(length) {
    this.length = Math.min(this.length, length);
  }

  // Append `ids` (an Int32Array) to the cache; resolve to the top-k for the next token.
  async step(ids) {
    const { wasm } = this;
    const total = this.length + ids.length;
    if (total > this.cache.capacity) {
      this.cache = this.cache.grown(this.pastNames, Math.ceil(total / CHUNK) * CHUNK, this.length);
    }
    const idsPtr = this.reserve(this.ids, ids.length);
    const maskPtr = this.reserve(this.mask, total, 1n);
    new BigInt64Array(heap(wasm), idsPtr, ids.length).set(Array.from(ids, BigInt));
    const feeds = [
      tensor(wasm, INT64, idsPtr, ids.length * 8, [1, ids.length]),
      tensor(wasm, INT64, maskPtr, total * 8, [1, total]),
    ];
    // slots: input names, input values, output names, output values (OrtValue pointers)
    const n = this.count;
    const values = [...feeds, ...this.cache.tensors, ...this.topkTensors, ...this.cache.tensors];
    try {
      const slots = new Uint32Array(heap(wasm), this.slots, 4 * n);
      slots.set(this.names.slice(0, n), 0);
      slots.set(values.slice(0, n), n);
      slots.set(this.names.slice(n), 2 * n);
      slots.set(values.slice(n), 3 * n);
      const status = await wasm._OrtRun(this.session, this.slots, this.slots + 4 * n, n,
        this.slots + 8 * n, n, this.slots + 12 * n, 0);
      if (status !== 0) throw new Error(lastError(wasm, "ONNX Runtime failed"));
      const returned = new Uint32Array(heap(wasm), this.slots + 12 * n, n);
      if (returned.some((handle, i) => handle !== values[n + i])) {
        throw new Error("ONNX Runtime did not write into the bound cache. Reload the page; if it persists, report it.");
      }
    } finally {
      feeds.forEach((t) => wasm._OrtReleaseTensor(t));
    }
    this.length = total;
    const buffer = heap(wasm);
    return {
      values: new Float32Array(buffer, this.topk, TOP_K).slice(),
      ids: Int32Array.from(new BigInt64Array(buffer, this.topk + TOP_K * 4, TOP_K), Number),
    };
  }

  async release() {
    const { wasm } = this;
    this.cache.release();
    this.topkTensors.forEach((t) => wasm._OrtReleaseTensor(t));
    [this.topk, this.slots, this.ids.ptr, this.mask.ptr, ...this.names].forEach((ptr) => ptr && wasm._free(ptr));
    wasm._OrtReleaseSession(this.session);
  }
}

// WebGPU through ORT Web's public API: the cache stays in GPU buffers, each step's present
// becoming the next step's past.
class GpuDecoder {
  constructor(ort, session, shape) {
    this.ort = ort;
    this.session = session;
    this.shape = shape;
    this.pastNames = kvNames(shape.layers);
    this.cache = this.emptyCache();
    this.length = 0;
  }

  static async create(ortUrl, graph, externalData, shape, ep, threads) {
    // ORT's WebGPU build, its binary read from the precache as the WASM path's is. Offline
    // it is there only if the service worker found an adapter when it installed, or a page
    // has loaded it online since (site/sw.js): a failed fetch says so, in the words the
    // fallback's status line shows.
    const [ort, wasmBinary] = await Promise.all([
      import(ortUrl), readBytes(`${folderOf(ortUrl)}ort-wasm-simd-threaded.asyncify.wasm`, { cached: true }),
    ]).catch((error) => {
      throw error instanceof TypeError ? new Error("its runtime is not saved for offline use; reload once online") : error;
    });
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.wasmBinary = wasmBinary;
    ort.env.logLevel = "error"; // ORT prints placement notes as console errors otherwise
    const locations = { topk_values: "cpu", topk_indices: "cpu" };
    for (const name of kvNames(shape.layers)) locations[presentName(name)] = "gpu-buffer";
    const session = await ort.InferenceSession.create(graph, {
      executionProviders: [ep],
      graphOptimizationLevel: "all",
      logSeverityLevel: 3, // errors only: placement notes would land in the console as errors
      externalData,
      preferredOutputLocation: locations,
      // fold the weights' DequantizeLinear nodes into fp32 constants at load time
      extra: { session: { disable_quant_qdq: "1" } },
    });
    return new GpuDecoder(ort, session, shape);
  }

  emptyCache() {
    const { kvHeads, headSize } = this.shape;
    const cache = {};
    for (const name of this.pastNames) {
      cache[name] = new this.ort.Tensor("float32", new Float32Array(0), [1, kvHeads, 0, headSize]);
    }
    return cache;
  }

  disposeCache() {
    for (const name of this.pastNames) this.cache[name].dispose();
  }

  // Keep the first `length` cached positions. Emptying is free; shortening copies the kept
  // part from the GPU, which happens only when a conversation was edited.
  async truncate(length) {
    if (length >= this.length) return;
    if (length === 0) {
      this.disposeCache();
      this.cache = this.emptyCache();
      this.length = 0;
      return;
    }
    const { kvHeads, headSize } = this.shape;
    const kept = {};
    for (const name of this.pastNames) {
      const data = await this.cache[name].getData();
      const out = new Float32Array(kvHeads * length * headSize);
      for (let h = 0; h < kvHeads; h++) {
        const from = h * this.length * headSize;
        out.set(data.subarray(from, from + length * headSize), h * length * headSize);
      }
      kept[name] = new this.ort.Tensor("float32", out, [1, kvHeads, length, headSize]);
    }
    this.disposeCache();
    this.cache = kept;
    this.length = length;
  }

  async step(ids) {
    const total = this.length + ids.length;
    const feeds = {
      input_ids: new this.ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]),
      attention_mask: new this.ort.Tensor("int64", new BigInt64Array(total).fill(1n), [1, total]),
      ...this.cache,
    };
    const out = await this.session.run(feeds);
    this.disposeCache();
    const next = {};
    for (const name of this.pastNames) next[name] = out[presentName(name)];
    this.cache = next;
    this.length = total;
    return { values: out.topk_values.data, ids: Int32Array.from(out.topk_indices.data, Number) };
  }

  async release() {
    this.disposeCache();
    await this.session.release();
  }
}

// Read a response body into one buffer, reporting progress; the size comes from the
// manifest, so a short (truncated) body is detected by the caller.
export async function download(url, expected, onProgress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const out = new Uint8Array(expected);
  const reader = response.body.getReader();
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.length > expected) throw new Error(`${url}: larger than the manifest says`);
    out.set(value, received);
    received += value.length;
    onProgress(value.length);
  }
  return { bytes: out, received };
}

export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
