// The in-browser engines Hearth is measured against, on the same model, fully offline:
// transformers.js (ONNX Runtime Web underneath) and wllama (llama.cpp compiled to WASM).
// Every engine exposes the same calls to the Python harness:
//   load({threads, ...}) -> {ms}
//   generate({promptIds, promptText, maxNew, reuse}) -> {ttftMs, decodeTokS, tokens}
// Timing starts when generate() is called; decode rate is over the tokens after the first.
// Both decode exactly maxNew tokens (EOS ignored). wllama reuses the KV cache of the longest
// common prefix by itself; transformers.js does when `reuse` asks it to (the harness's
// decode-at-context runs, which prefill once per engine).

function commonPrefix(a, b) {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function rate(stamps) {
  if (stamps.length < 2) return 0;
  return (stamps.length - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000);
}

const transformersEngine = {
  async load({ threads, modelId }) {
    const started = performance.now();
    const tjs = await import("/peers/@huggingface/transformers/dist/transformers.web.min.js");
    tjs.env.allowRemoteModels = false;
    tjs.env.allowLocalModels = true;
    tjs.env.localModelPath = "/tjs-models/";
    tjs.env.useBrowserCache = false;
    tjs.env.backends.onnx.wasm.wasmPaths = "/peers/onnxruntime-web/dist/";
    tjs.env.backends.onnx.wasm.numThreads = threads;
    this.tjs = tjs;
    this.model = await tjs.AutoModelForCausalLM.from_pretrained(modelId, {
      dtype: "fp32",
      device: "wasm",
      use_external_data_format: true,
    });
    return { ms: performance.now() - started };
  },
  // The first `length` positions of a cache tensor [batch, heads, positions, headSize].
  keepFirst(tensor, length) {
    const [batch, heads, positions, size] = tensor.dims;
    const out = new Float32Array(batch * heads * length * size);
    for (let i = 0; i < batch * heads; i++) {
      out.set(tensor.data.subarray(i * positions * size, (i * positions + length) * size), i * length * size);
    }
    return new this.tjs.Tensor("float32", out, [batch, heads, length, size]);
  },
  // transformers.js's documented multi-turn cache: generate() takes a DynamicCache and skips
  // the prompt positions it holds, and returns the cache with return_dict_in_generate. It
  // extends the cache it is given in place, so each call gets a trimmed copy.
  pastFor(promptIds) {
    if (!this.cache) return {};
    const keep = Math.min(commonPrefix(this.cachedIds, promptIds), promptIds.length - 1);
    if (keep === 0) return {};
    const entries = Object.entries(this.cache).map(([name, t]) => [name, this.keepFirst(t, keep)]);
    return { past_key_values: new this.tjs.DynamicCache(Object.fromEntries(entries)) };
  },
  async generate({ promptIds, maxNew, reuse }) {
    const { Tensor, BaseStreamer } = this.tjs;
    const stamps = [];
    class Clock extends BaseStreamer {
      constructor() { super(); this.prompt = true; }
      put() { if (this.prompt) this.prompt = false; else stamps.push(performance.now()); }
      end() {}
    }
    const n = promptIds.length;
    const ids = new Tensor("int64", BigInt64Array.from(promptIds.map(BigInt)), [1, n]);
    const mask = new Tensor("int64", new BigInt64Array(n).fill(1n), [1, n]);
    const started = performance.now();
    const out = await this.model.generate({
      input_ids: ids,
      attention_mask: mask,
      max_new_tokens: maxNew,
      min_new_tokens: maxNew,
      do_sample: false,
      streamer: new Clock(),
      ...(reuse ? { ...this.pastFor(promptIds), return_dict_in_generate: true } : {}),
    });
    this.cache = reuse ? out.past_key_values : null;
    if (reuse) {  // the last token was sampled but never fed
      this.cachedIds = Array.from(out.sequences.data, Number).slice(0, this.cache.get_seq_length());
    }
    return { ttftMs: stamps[0] - started, decodeTokS: rate(stamps), tokens: stamps.length };
  },
};

const wllamaEngine = {
  async load({ threads, ggufUrl }) {
    const started = performance.now();
    const { Wllama } = await import("/peers/@wllama/wllama/esm/index.js");
    this.wllama = new Wllama(
      { default: "/peers/@wllama/wllama/esm/wasm/wllama.wasm" },
      { suppressNativeLog: true, allowOffline: true },
    );
    await this.wllama.loadModelFromUrl(ggufUrl, {
      n_threads: threads,
      n_ctx: 8192, // the model's context, as the page's: the 4k-context prompt and its reply fit
      n_gpu_layers: 0,
      useCache: false,
    });
    return { ms: performance.now() - started };
  },
  async generate({ promptText, maxNew }) {
    const stamps = [];
    const started = performance.now();
    const stream = await this.wllama.createCompletion({
      prompt: promptText,
      max_tokens: maxNew,
      temperature: 0,
      ignore_eos: true,
      stream: true,
    });
    for await (const chunk of stream) {
      if (chunk.choices?.some((c) => c.text)) stamps.push(performance.now());
    }
    return { ttftMs: stamps[0] - started, decodeTokS: rate(stamps), tokens: stamps.length };
  },
};

window.peers = { transformers: transformersEngine, wllama: wllamaEngine };
document.getElementById("state").textContent = "ready";
