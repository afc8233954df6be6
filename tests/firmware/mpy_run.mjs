// Runs a MicroPython script under the real MicroPython interpreter (WebAssembly port, via Node.js).
//
//   node mpy_run.mjs [--heap 192k] [--lib DIR]... [--fs-in DIR] [--fs-out DIR] script.py
//
// Each --lib DIR is copied into the interpreter's /lib (on sys.path), like `mpremote cp -r` to a board.
// --fs-in/--fs-out copy the interpreter's /flash folder from/to the host, so a later run can
// continue from what an earlier one left in "flash" (a reboot). When the script defines
// `async def main()`, it is then run as an asyncio task. A Python exception exits with status 1 and
// its traceback on stderr.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { loadMicroPython } = await import(
  path.join(here, "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs")
);

let heap = 192 * 1024;
const libs = [];
let fsIn = null;
let fsOut = null;
let script = null;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--heap") {
    const v = argv[++i].toLowerCase();
    heap = parseInt(v, 10) * (v.endsWith("k") ? 1024 : v.endsWith("m") ? 1048576 : 1);
  } else if (a === "--lib") libs.push(argv[++i]);
  else if (a === "--fs-in") fsIn = argv[++i];
  else if (a === "--fs-out") fsOut = argv[++i];
  else script = a;
}
if (!script) {
  console.error("usage: node mpy_run.mjs [--heap N] [--lib DIR]... script.py");
  process.exit(2);
}

const mp = await loadMicroPython({
  heapsize: heap,
  linebuffer: true,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
const FS = mp.FS;

function copyIn(hostDir, mpDir) {
  FS.mkdirTree(mpDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (entry.name === "__pycache__") continue;
    const src = path.join(hostDir, entry.name);
    const dst = mpDir + "/" + entry.name;
    if (entry.isDirectory()) copyIn(src, dst);
    else FS.writeFile(dst, fs.readFileSync(src));
  }
}

function copyOut(mpDir, hostDir) {
  fs.mkdirSync(hostDir, { recursive: true });
  for (const name of FS.readdir(mpDir)) {
    if (name === "." || name === "..") continue;
    const src = mpDir + "/" + name;
    const dst = path.join(hostDir, name);
    if (FS.isDir(FS.stat(src).mode)) copyOut(src, dst);
    else fs.writeFileSync(dst, FS.readFile(src));
  }
}

for (const lib of libs) copyIn(lib, "/lib");
FS.mkdirTree("/flash");
if (fsIn && fs.existsSync(fsIn)) copyIn(fsIn, "/flash");

let status = 0;
try {
  await mp.runPythonAsync(fs.readFileSync(script, "utf8"));
  if (mp.globals.get("main") !== undefined) {
    await mp.runPythonAsync("import asyncio\nawait asyncio.create_task(main())\n");
  }
} catch (error) {
  if (error.name !== "PythonError") throw error;
  if (error.type !== "SystemExit") {
    process.stderr.write(error.message + "\n");
    status = 1;
  }
}
if (fsOut) copyOut("/flash", fsOut);
process.exit(status);
