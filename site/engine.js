// The small JS half of Hearth's in-page engine, loaded by Python (pyapp/browser/ort.py) in
// the worker. It owns what must not cross into Python every token: the ORT session and its
// KV-cache tensors (GPU buffers on WebGPU). Python calls step() once per token and gets
// back only the graph's top-k logits and ids.

function kvNames(layers) {
  const names = [];
  for (let i = 0; i < layers; i++) names.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
  return names;
}

// Resolve on the next task (a MessageChannel message: no setTimeout clamping).
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => { channel.port1.close(); resolve(); };
    channel.port2.postMessage(null);
  });
}

export class Decoder {
  constructor(ort, session, shape, ep) {
    this.ort = ort;
    this.session = session;
    this.shape = shape;
    this.ep = ep;
    this.pastNames = kvNames(shape.layers);
    this.cache = this.emptyCache();
    this.length = 0;
  }

  static async create(ort, graph, externalData, shape, ep, threads) {
    ort.env.wasm.numThreads = threads;
    ort.env.logLevel = "error"; // ORT prints placement notes as console errors otherwise
    const locations = { topk_values: "cpu", topk_indices: "cpu" };
    for (const name of kvNames(shape.layers)) {
      locations[name.replace("past_key_values", "present")] = ep === "webgpu" ? "gpu-buffer" : "cpu";
    }
    const session = await ort.InferenceSession.create(graph, {
      executionProviders: [ep],
      graphOptimizationLevel: "all",
      logSeverityLevel: 3, // errors only: placement notes would land in the console as errors
      externalData,
      preferredOutputLocation: locations,
      // fold the weights' DequantizeLinear nodes into fp32 constants at load time
      extra: { session: { disable_quant_qdq: "1" } },
    });
    return new Decoder(ort, session, shape, ep);
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
  // part (from the GPU on WebGPU), which happens only when a conversation was edited.
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
      const tensor = this.cache[name];
      const data = await tensor.getData();
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

  // Append `ids` (an Int32Array) to the cache; resolve to the top-k for the next token.
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
    for (const name of this.pastNames) next[name] = out[name.replace("past_key_values", "present")];
    this.cache = next;
    this.length = total;
    const result = { values: out.topk_values.data, ids: Int32Array.from(out.topk_indices.data, Number) };
    // ORT's run() settles through microtasks only; without a real task boundary the worker
    // never gets to process queued events (such as the Stop click) while decoding.
    await nextTask();
    return result;
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
