// Compile a WebAssembly text file to its binary with wabt (npm, pinned in package.json):
// node wat2wasm.mjs NODE_MODULES SOURCE.wat > DEST.wasm; a parse or validation error is
// printed as wabt words it (file, line and column) and exits 1.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

const [modules, source] = process.argv.slice(2);
try {
  const wabt = await createRequire(`${resolve(modules)}/`)("wabt")();
  const module = wabt.parseWat(source, readFileSync(source, "utf8"), { simd: true });
  module.validate();
  process.stdout.write(module.toBinary({}).buffer);
} catch (error) {
  process.stderr.write(`${error.message ?? error}\n`);
  process.exit(1);
}
