// A minimal JS greedy-decoding loop over ONNX Runtime Web. It measures what a model format
// costs in the page, independent of Hearth's Python loop (which bench compares against it).
// With `engineUrl` it drives site/engine.js's Decoder instead (on WASM: the heap-resident KV
// cache), so the two can be compared on the same page graph.
const now = () => performance.now();

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function argmaxLast(logits) {
  const vocab = logits.dims[logits.dims.length - 1];
  const data = logits.data;
  const base = data.length - vocab;
  let best = 0, bestValue = -Infinity;
  for (let i = 0; i < vocab; i++) {
    const v = data[base + i];
    if (v > bestValue) { bestValue = v; best = i; }
  }
  return best;
}

// The page graph's fp32 weights, rebuilt from the blocks as the page does (site/model.js):
// produced as ORT copies them in (`lazy`, engine.js's WASM loader), or whole.
async function addRebuiltWeights(config, externalData, lazy) {
  if (!config.recipe) return;
  const { kernels, unpack, unpacked } = await import(config.weightsUrl);
  const loops = await kernels(await fetchBytes(new URL("dequant.wasm", config.weightsUrl).href));
  const recipe = JSON.parse(new TextDecoder().decode(await fetchBytes(config.modelUrl + config.recipe)));
  const source = externalData.find(({ path }) => path === recipe.source).data;
  externalData.push({ path: recipe.file, data: (lazy ? unpacked : unpack)(recipe, source, loops) });
}

function commonPrefix(a, b) {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

// Greedy decoding with `step(tokens) -> next token`: the prompt, then one token at a time up
// to config.maxNew (or EOS unless ignored). Time to first token, and the decode rate over the
// tokens after it.
async function greedy(step, prompt, config) {
  const started = now();
  let token = await step(prompt);
  const first = now();
  const generated = [token];
  while (generated.length < config.maxNew) {
    token = await step([token]);
    generated.push(token);
    if (!config.ignoreEos && config.eos.includes(token)) break;
  }
  const seconds = (now() - first) / 1000;
  return { ttftMs: first - started, decodeTokPerS: (generated.length - 1) / seconds, generated };
}

// The same loop through engine.js: one step() per token, the top-1 of its top-k. With
// `prompts` it answers each in turn on one session, reusing the cached prefix each shares
// with what the decoder holds, as Hearth's Python loop does (pyapp/generate.py).
async function runEngine(config) {
  const { Decoder } = await import(config.engineUrl);
  const t0 = now();
  const graph = await fetchBytes(config.modelUrl + config.graph);
  const externalData = [];
  for (const name of config.dataFiles) {
    externalData.push({ path: name, data: await fetchBytes(config.modelUrl + name) });
  }
  await addRebuiltWeights(config, externalData, true);
  const t1 = now();
  const decoder = await Decoder.create(config.ortUrl, graph, externalData, config.shape, config.ep, config.threads);
  const t2 = now();
  const step = async (tokens) => (await decoder.step(Int32Array.from(tokens))).ids[0];
  const runs = [];
  let cached = [];
  for (const ids of config.prompts ?? [config.promptIds]) {
    const keep = Math.min(commonPrefix(cached, ids), ids.length - 1);
    await decoder.truncate(keep);
    const run = await greedy(step, ids.slice(keep), config);
    cached = [...ids, ...run.generated.slice(0, -1)]; // the last token was never fed
    runs.push(run);
  }
  await decoder.release();
  return {
    loadMs: t1 - t0, sessionMs: t2 - t1, ...runs[0], runs,
    promptTokens: config.promptIds?.length, threads: config.threads, ep: config.ep,
  };
}

self.onmessage = async ({ data: config }) => {
  if (config.engineUrl) {
    try {
      self.postMessage(await runEngine(config));
    } catch (error) {
      self.postMessage({ error: String(error && error.stack || error) });
    }
    return;
  }
  try {
    const ort = await import(config.ortUrl);
    ort.env.wasm.numThreads = config.threads;
    ort.env.wasm.wasmPaths = config.ortUrl.slice(0, config.ortUrl.lastIndexOf("/") + 1);
    const t0 = now();
    const model = await fetchBytes(config.modelUrl + config.graph);
    const externalData = [];
    for (const name of config.dataFiles) {
      externalData.push({ path: name, data: await fetchBytes(config.modelUrl + name) });
    }
    await addRebuiltWeights(config, externalData, false);
    const t1 = now();
    const { layers, kvHeads, headSize } = config.shape;
    const pastNames = [];
    for (let i = 0; i < layers; i++) pastNames.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
    // On WebGPU the KV cache stays in GPU buffers; only the logits come back to the CPU.
    const locations = { logits: "cpu", topk_values: "cpu", topk_indices: "cpu" };
    for (const name of pastNames) locations[name.replace("past_key_values", "present")] = "gpu-buffer";
    const session = await ort.InferenceSession.create(model, {
      executionProviders: [config.ep],
      graphOptimizationLevel: "all",
      externalData,
      extra: { session: { disable_quant_qdq: "1" } },
      ...(config.ep === "webgpu" ? { preferredOutputLocation: locations } : {}),
    });
    const t2 = now();
    let cache = {};
    for (const name of pastNames) {
      cache[name] = new ort.Tensor("float32", new Float32Array(0), [1, kvHeads, 0, headSize]);
    }
    const ids = config.promptIds;
    let past = 0;
    const step = async (tokens) => {
      const total = past + tokens.length;
      const feeds = {
        input_ids: new ort.Tensor("int64", BigInt64Array.from(tokens.map(BigInt)), [1, tokens.length]),
        attention_mask: new ort.Tensor("int64", new BigInt64Array(total).fill(1n), [1, total]),
        ...cache,
      };
      const out = await session.run(feeds);
      // model.onnx ends in logits, the page graph in its top-k
      const next = out.logits ? argmaxLast(out.logits) : Number(out.topk_indices.data[0]);
      out.logits?.dispose?.();
      for (const name of pastNames) {
        cache[name].dispose?.();
        cache[name] = out[name.replace("past_key_values", "present")];
      }
      past = total;
      return next;
    };
    const run = await greedy(step, ids, config);
    self.postMessage({
      loadMs: t1 - t0, sessionMs: t2 - t1, ...run,
      promptTokens: ids.length, threads: config.threads, ep: config.ep,
    });
    await session.release();
  } catch (error) {
    self.postMessage({ error: String(error && error.stack || error) });
  }
};
