// The page's fp32 weights, rebuilt from the GGUF-style blocks in model.onnx.data.
//
// The page graph names its large weights as plain fp32 initializers in a file that is
// never downloaded (model.page.weights); its recipe (model.page.weights.json, written by
// hearth_build/model/page_weights.py, which has the numpy twin of this loop and says why)
// gives each weight's encoding, shape and where its codes, scales and minimums lie. The
// floats are bit for bit those ONNX Runtime's DequantizeLinear folding produced before,
// at a fraction of its cost. Pure functions, so Node can run them in the tests.

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

// `count` fp16 values at `offset` of `source` (any alignment) as floats.
function fp16(source, offset, count) {
  const table = halves();
  const bits = new Uint16Array(source.buffer.slice(source.byteOffset + offset, source.byteOffset + offset + 2 * count));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = table[bits[i]];
  return out;
}

function q4_1(w, source, out) {
  const { rows, cols } = w;
  const d = fp16(source, w.scales, (rows / BLOCK) * cols);
  const m = fp16(source, w.mins, (rows / BLOCK) * cols);
  const codes = source.subarray(w.codes, w.codes + Math.ceil((rows * cols) / 2));
  for (let r = 0; r < rows; r++) {
    const block = ((r / BLOCK) | 0) * cols;
    const row = r * cols;
    if (cols % 2 === 0) {
      // each row starts on a whole byte: two weights a byte, low nibble first
      for (let c = 0, j = row >> 1; c < cols; c += 2, j++) {
        const byte = codes[j];
        out[row + c] = d[block + c] * (byte & 15) + m[block + c];
        out[row + c + 1] = d[block + c + 1] * (byte >> 4) + m[block + c + 1];
      }
      continue;
    }
    for (let c = 0; c < cols; c++) {
      const i = row + c;
      const byte = codes[i >> 1];
      out[i] = d[block + c] * (i & 1 ? byte >> 4 : byte & 15) + m[block + c];
    }
  }
}

function q8(w, source, out, perColumn) {
  const { rows, cols } = w;
  const d = fp16(source, w.scales, perColumn ? cols : (rows / BLOCK) * cols);
  const codes = new Int8Array(source.buffer, source.byteOffset + w.codes, rows * cols);
  for (let r = 0; r < rows; r++) {
    const block = perColumn ? 0 : ((r / BLOCK) | 0) * cols;
    const row = r * cols;
    for (let c = 0; c < cols; c++) out[row + c] = d[block + c] * codes[row + c];
  }
}

function fill(w, source, out) {
  if (w.encoding === "Q4_1") q4_1(w, source, out);
  else if (w.encoding === "Q8_0") q8(w, source, out, false);
  else if (w.encoding === "INT8") q8(w, source, out, true);
  else throw new Error(`unknown weight encoding ${w.encoding}: rebuild with "python build.py"`);
}

// The rebuilt file's bytes, from the recipe and the bytes of `recipe.source`.
export function unpack(recipe, source) {
  const file = new Uint8Array(recipe.bytes);
  for (const w of recipe.weights) fill(w, source, new Float32Array(file.buffer, w.offset, w.rows * w.cols));
  return file;
}

// The same file as ONNX Runtime's WASM loader reads a mounted one: it takes its
// byteLength, then for each initializer subarray(offset, offset + length), which it copies
// into the WebAssembly heap at once. Each weight is rebuilt when it is asked for, into one
// scratch buffer the size of the largest, so the whole file (540 MB for SmolLM2-135M) never
// exists outside the heap. Anything but a request for one whole weight is refused, and
// ORT then fails the session loudly.
export function unpacked(recipe, source) {
  const byOffset = new Map(recipe.weights.map((w) => [w.offset, w]));
  const largest = Math.max(0, ...recipe.weights.map((w) => w.rows * w.cols));
  let scratch = null;
  return {
    byteLength: recipe.bytes,
    seconds: 0, // spent rebuilding, for the boot's phase breakdown
    subarray(begin, end) {
      const w = byOffset.get(begin);
      if (!w || end - begin !== w.rows * w.cols * 4) {
        throw new Error(`no rebuilt weight at bytes ${begin}-${end} of ${recipe.file}`);
      }
      scratch ??= new Float32Array(largest);
      const started = performance.now();
      fill(w, source, scratch.subarray(0, w.rows * w.cols));
      this.seconds += (performance.now() - started) / 1000;
      return new Uint8Array(scratch.buffer, 0, end - begin);
    },
  };
}
