// The in-browser engines Hearth is measured against, on the same model, fully offline:
// transformers.js (ONNX Runtime Web underneath) and wllama (llama.cpp compiled to WASM).
// Every engine exposes the same calls to the Python harness:
//   load({threads, ...}) -> {ms}
//   generate({promptIds, promptText, maxNew}) -> {ttftMs, decodeTokS, tokens}
// Timing starts when generate() is called; decode rate is over the tokens after the first.

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
  async generate({ promptIds, maxNew }) {
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
    await this.model.generate({
      input_ids: ids,
      attention_mask: mask,
      max_new_tokens: maxNew,
      min_new_tokens: maxNew,
      do_sample: false,
      streamer: new Clock(),
    });
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
      n_ctx: 4096,
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
