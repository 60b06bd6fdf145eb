// The page's fp32 weights, rebuilt from the GGUF-style blocks in model.onnx.data.
//
// The page graph names its large weights as plain fp32 initializers in a file that is
// never downloaded (model.page.weights); its recipe (model.page.weights.json, written by
// hearth_build/model/page_weights.py, which has the numpy twin of this loop and says why)
// gives each weight's encoding, shape and where its codes, scales and minimums lie. The
// floats are bit for bit those ONNX Runtime's DequantizeLinear folding produced before,
// at a fraction of its cost. The loops are WebAssembly (site/dequant.wat, which says why);
// this module lays each weight out for them. No DOM or fetch, so Node runs it in the tests.

const BLOCK = 32;
let halfTable = null;

// Every fp16 bit pattern as a float, built once (256 KB).
function halves() {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(1 << 16);
  for (let h = 0; h < 1 << 16; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) halfTable[h] = sign * fraction * 2 ** -24;
    else if (exponent === 31) halfTable[h] = fraction ? NaN : sign * Infinity;
    else halfTable[h] = sign * (1024 + fraction) * 2 ** (exponent - 25);
  }
  return halfTable;
}

// `count` fp16 values at `offset` of `source` (any alignment), as floats into `into`.
function fp16(source, offset, count, into) {
  const table = halves();
  const bits = new Uint16Array(source.buffer.slice(source.byteOffset + offset, source.byteOffset + offset + 2 * count));
  for (let i = 0; i < count; i++) into[i] = table[bits[i]];
}

const align = (n) => (n + 15) & ~15;

/**
 * The loops of site/dequant.wat (dist/dequant.wasm), from the module's bytes: pass the
 * result to `unpack` or `unpacked`. One instance rebuilds one weight at a time in its own
 * memory, which grows to the largest weight and goes when the instance does.
 */
export async function kernels(wasmBytes) {
  const { instance } = await WebAssembly.instantiate(wasmBytes);
  return instance.exports;
}

// Rebuild weight `w` in the kernels' memory; its bytes there, valid until the next call.
function fill(kernels, w, source) {
  const { rows, cols } = w;
  const q4 = w.encoding === "Q4_1";
  const perColumn = w.encoding === "INT8";
  if (!q4 && !perColumn && w.encoding !== "Q8_0") {
    throw new Error(`unknown weight encoding ${w.encoding}: rebuild with "python build.py"`);
  }
  const codeBytes = q4 ? Math.ceil((rows * cols) / 2) : rows * cols;
  const scales = perColumn ? cols : (rows / BLOCK) * cols;
  const d = align(codeBytes);
  const m = align(d + scales * 4);
  const out = align(m + (q4 ? scales * 4 : 0));
  const end = out + rows * cols * 4;
  const { memory } = kernels;
  if (memory.buffer.byteLength < end) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
  new Uint8Array(memory.buffer).set(source.subarray(w.codes, w.codes + codeBytes), 0);
  fp16(source, w.scales, scales, new Float32Array(memory.buffer, d, scales));
  if (q4) {
    fp16(source, w.mins, scales, new Float32Array(memory.buffer, m, scales));
    kernels.q4_1(0, d, m, out, rows, cols);
  } else {
    kernels.q8(0, d, out, rows, cols, perColumn ? 1 : 0);
  }
  return new Uint8Array(memory.buffer, out, rows * cols * 4);
}

// The rebuilt file's bytes, from the recipe and the bytes of `recipe.source`.
export function unpack(recipe, source, kernels) {
  const file = new Uint8Array(recipe.bytes);
  for (const w of recipe.weights) file.set(fill(kernels, w, source), w.offset);
  return file;
}

// The same file as ONNX Runtime's WASM loader reads a mounted one: it takes its
// byteLength, then for each initializer subarray(offset, offset + length), which it copies
// into the WebAssembly heap at once. Each weight is rebuilt when it is asked for, in the
// kernels' memory (the size of the largest), so the whole file (540 MB for SmolLM2-135M)
// never exists outside the heap. Anything but a request for one whole weight is refused, and
// ORT then fails the session loudly.
export function unpacked(recipe, source, kernels) {
  const byOffset = new Map(recipe.weights.map((w) => [w.offset, w]));
  return {
    byteLength: recipe.bytes,
    seconds: 0, // spent rebuilding, for the boot's phase breakdown
    subarray(begin, end) {
      const w = byOffset.get(begin);
      if (!w || end - begin !== w.rows * w.cols * 4) {
        throw new Error(`no rebuilt weight at bytes ${begin}-${end} of ${recipe.file}`);
      }
      const started = performance.now();
      const bytes = fill(kernels, w, source);
      this.seconds += (performance.now() - started) / 1000;
      return bytes;
    },
  };
}
