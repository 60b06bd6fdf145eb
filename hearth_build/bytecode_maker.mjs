// Compiles pure-Python wheels to bytecode with the page's own Python, at build time
// (hearth_build/bytecode.py runs it). Each wheel gets, beside every module, the `.pyc`
// that Pyodide's CPython would otherwise compile on every page load.
//
// node bytecode_maker.mjs <pyodide dir> <in dir> <out dir> <wheel file name>...

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [pyodideDir, inDir, outDir, ...names] = process.argv.slice(2);
process.argv = process.argv.slice(0, 1); // the build machine's paths stay out of Python
const indexURL = join(pyodideDir, "/");
const { loadPyodide } = await import(indexURL + "pyodide.mjs");
const pyodide = await loadPyodide({ indexURL });
pyodide.FS.mkdirTree("/in");
pyodide.FS.mkdirTree("/out");
for (const name of names) pyodide.FS.writeFile(`/in/${name}`, new Uint8Array(readFileSync(join(inDir, name))));
pyodide.runPython(readFileSync(new URL("./bytecode_wheel.py", import.meta.url), "utf8"));
const compile = pyodide.globals.get("compile_wheel");
for (const name of names) {
  compile(`/in/${name}`, `/out/${name}`);
  writeFileSync(join(outDir, name), pyodide.FS.readFile(`/out/${name}`));
}
compile.destroy();
console.log(JSON.stringify({ compiled: names.length }));
