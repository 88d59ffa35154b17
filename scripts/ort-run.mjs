#!/usr/bin/env node
// ort-run.mjs: runs an ONNX graph (scripts/export-onnx's) in ONNX Runtime (onnxruntime-node).
//
// Usage:
//   node scripts/ort-run.mjs MODEL.onnx --input image=IMG.npy --input mel=MEL.npy
//        [--output logits=OUT.npy] [--threads N] [--batch B] [--bench SECONDS]
//        [--opt disabled|basic|extended|all] [--profile FILE]
//
// Inputs and outputs are .npy files (float32, C order, little endian); each input's
// first axis is the batch.  The clips run in batches of B (default: all at once) and
// the outputs are concatenated.  --threads sets ORT's intra-op threads (default 1;
// inter-op 1, sequential execution; --opt: graph optimisation level, default all).  --bench S: instead of
// one pass, repeat the batches (after one warm-up batch) for at least S seconds and
// print one JSON line {"ms_per_clip", "clips", "threads", "batch", "ort"}: forward only
// (session.run on tensors built beforehand), no file I/O.  --profile FILE: with ORT's
// profiler on, write each node kind and output shape's time a clip (every run counted,
// the warm-up too) as CSV kernel,shape,calls_per_clip,ms_per_clip,share,gflop_s (the
// columns of run-model --profile; gflop_s left empty), the costliest first, then a
// total row.
//
// onnxruntime-node is looked for in $RVT_ORT_DIR/node_modules, then
// $RVT_BUILD/ort/node_modules, then build/ort/node_modules of the repository
// (scripts/install-ort.sh installs it there).
// Exit status: 0 ok, 1 runtime error, 2 usage error.

import { createRequire } from "node:module";
import { existsSync, readFileSync, writeFileSync, renameSync, unlinkSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PROG = "ort-run";
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function die(msg, code = 1) {
  process.stderr.write(`${PROG}: ${msg}\n`);
  process.exit(code);
}

function findOrt() {
  const dirs = [];
  if (process.env.RVT_ORT_DIR) dirs.push(process.env.RVT_ORT_DIR);
  if (process.env.RVT_BUILD) dirs.push(join(process.env.RVT_BUILD, "ort"));
  dirs.push(join(ROOT, "build", "ort"));
  for (const d of dirs) {
    const p = join(d, "node_modules", "onnxruntime-node");
    if (existsSync(join(p, "package.json"))) {
      const req = createRequire(join(d, "package.json"));
      return { ort: req("onnxruntime-node"), version: JSON.parse(readFileSync(join(p, "package.json"))).version };
    }
  }
  die(`onnxruntime-node not found in ${dirs.join(", ")} (scripts/install-ort.sh installs it)`);
}

// .npy v1/v2/v3 reader: float32 little endian, C order.
function readNpy(path) {
  let buf;
  try {
    buf = readFileSync(path);
  } catch (e) {
    die(`cannot open '${path}': ${e.message}`);
  }
  if (buf.length < 10 || buf.toString("latin1", 0, 6) !== "\x93NUMPY") die(`'${path}': not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = (major === 1 ? 10 : 12) + hlen;
  const header = buf.toString("latin1", major === 1 ? 10 : 12, off);
  const descr = /'descr':\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) die(`'${path}': bad .npy header`);
  if (descr[1] !== "<f4") die(`'${path}': dtype ${descr[1]}, want float32 (<f4)`);
  if (fortran[1] !== "False") die(`'${path}': Fortran order, want C order`);
  const dims = shape[1].split(",").map((s) => s.trim()).filter((s) => s).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  if (buf.length - off !== 4 * n) die(`'${path}': ${buf.length - off} data bytes for shape (${dims})`);
  const data = new Float32Array(n);
  Buffer.from(data.buffer).set(buf.subarray(off, off + 4 * n));
  return { dims, data };
}

function writeNpy(path, dims, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims.join(", ")}${dims.length === 1 ? "," : ""}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += " ".repeat(pad % 64) + "\n";
  const head = Buffer.alloc(10);
  head.write("\x93NUMPY", 0, "latin1");
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  writeOutput(path, Buffer.concat([head, Buffer.from(header, "latin1"), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

// An output file as the C tools write one (lib/core/atomic.c): a regular file (or a
// new name) through a temporary renamed over it, never half a file; a device or FIFO
// (/dev/null, /dev/stdout) in place, as renaming over it would replace /dev/null with
// a regular file for the whole machine; a directory refused.
function writeOutput(path, bytes) {
  let st = null;
  try { st = statSync(path); } catch (_) { /* a new name */ }
  if (st && st.isDirectory()) die(`cannot write '${path}': it is a directory`);
  if (st && !st.isFile()) {
    try { writeFileSync(path, bytes); } catch (e) { die(`cannot write '${path}': ${e.message}`); }
    return;
  }
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch (_) { /* not there */ }
    die(`cannot write '${path}': ${e.message}`);
  }
}

function parseArgs(argv) {
  const a = { model: null, inputs: [], outputs: [], threads: 1, batch: 0, bench: 0, opt: "all", profile: null };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`${s} needs a value`, 2);
      return argv[++i];
    };
    const pair = (v) => {
      const k = v.indexOf("=");
      if (k <= 0) die(`${s} wants NAME=FILE, not '${v}'`, 2);
      return [v.slice(0, k), v.slice(k + 1)];
    };
    const int = (v, lo) => {
      if (!/^\d+$/.test(v) || Number(v) < lo) die(`${s}: '${v}' is not an integer >= ${lo}`, 2);
      return Number(v);
    };
    if (s === "--input") a.inputs.push(pair(val()));
    else if (s === "--output") a.outputs.push(pair(val()));
    else if (s === "--threads") a.threads = int(val(), 1);
    else if (s === "--batch") a.batch = int(val(), 1);
    else if (s === "--profile") a.profile = val();
    else if (s === "--opt") {
      a.opt = val();
      if (!["disabled", "basic", "extended", "all"].includes(a.opt)) die(`--opt: '${a.opt}' is not disabled, basic, extended or all`, 2);
    } else if (s === "--bench") {
      a.bench = Number(val());
      if (!(a.bench > 0)) die("--bench wants seconds > 0", 2);
    } else if (s === "-h" || s === "--help") {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n")
        .filter((l) => l.startsWith("//")).slice(0, 23).map((l) => l.slice(3)).join("\n") + "\n");
      process.exit(0);
    } else if (s.startsWith("-")) die(`unknown option '${s}'`, 2);
    else if (a.model) die(`one model, not '${s}' too`, 2);
    else a.model = s;
  }
  if (!a.model || a.inputs.length === 0) die("usage: ort-run.mjs MODEL.onnx --input NAME=FILE.npy ... [--output NAME=FILE.npy] [--threads N] [--batch B] [--bench S]", 2);
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const { ort, version } = findOrt();
  const inputs = a.inputs.map(([name, file]) => [name, readNpy(file)]);
  const n = inputs[0][1].dims[0];
  for (const [name, t] of inputs) if (t.dims[0] !== n) die(`input '${name}' has ${t.dims[0]} rows, '${inputs[0][0]}' ${n}`);
  const batch = a.batch || n;
  let sess;
  const profDir = a.profile ? mkdtempSync(join(tmpdir(), "ort-run-")) : null;
  let clipsRun = 0;
  try {
    sess = await ort.InferenceSession.create(a.model, {
      intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: "sequential",
      graphOptimizationLevel: a.opt,
      ...(profDir ? { enableProfiling: true, profileFilePrefix: join(profDir, "ort") } : {}),
    });
  } catch (e) {
    die(`cannot load '${a.model}': ${e.message}`);
  }
  // one feed per batch, built before any timing
  const feeds = [];
  for (let i = 0; i + batch <= n || (i < n && !a.bench); i += batch) {
    const b = Math.min(batch, n - i);
    const feed = {};
    for (const [name, t] of inputs) {
      const row = t.data.length / n;
      feed[name] = new ort.Tensor("float32", t.data.subarray(i * row, (i + b) * row), [b, ...t.dims.slice(1)]);
    }
    feeds.push([b, feed]);
  }
  if (feeds.length === 0) die(`--bench: ${n} clips, fewer than one batch of ${batch}`);
  try {
    if (a.bench) {
      await sess.run(feeds[0][1]); // warm-up
      clipsRun += feeds[0][0];
      let done = 0;
      const t0 = process.hrtime.bigint();
      let dt = 0;
      for (;;) {
        for (const [b, feed] of feeds) {
          await sess.run(feed);
          done += b;
        }
        dt = Number(process.hrtime.bigint() - t0) / 1e9;
        if (dt >= a.bench) break;
      }
      clipsRun += done;
      if (profDir) await writeProfile(sess, profDir, a.profile, clipsRun);
      process.stdout.write(JSON.stringify({ ms_per_clip: (dt * 1e3) / done, clips: done, threads: a.threads, batch, ort: version }) + "\n");
      return;
    }
    const outs = {};
    for (const [b, feed] of feeds) {
      const r = await sess.run(feed);
      clipsRun += b;
      for (const [name] of a.outputs) {
        if (!r[name]) die(`the model has no output '${name}' (it has ${sess.outputNames.join(", ")})`);
        (outs[name] ||= []).push(r[name]);
      }
    }
    for (const [name, file] of a.outputs) {
      const parts = outs[name];
      const total = parts.reduce((s, t) => s + t.data.length, 0);
      const data = new Float32Array(total);
      let o = 0;
      for (const t of parts) {
        data.set(t.data, o);
        o += t.data.length;
      }
      writeNpy(file, [n, ...parts[0].dims.slice(1)], data);
    }
    if (profDir) await writeProfile(sess, profDir, a.profile, clipsRun);
  } catch (e) {
    die(`running '${a.model}': ${e.message}`);
  }
}

// --profile: ORT's trace (one event a node a run) summed by node kind and output shape.
async function writeProfile(sess, dir, path, clips) {
  sess.endProfiling();
  await sess.release();
  const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  if (files.length !== 1) die(`--profile: ORT wrote ${files.length} trace files in ${dir}`);
  const events = JSON.parse(readFileSync(join(dir, files[0]), "utf8"));
  rmSync(dir, { recursive: true, force: true });
  const rec = new Map();
  let total = 0;
  for (const e of events) {
    if (e.cat !== "Node" || !e.name.endsWith("_kernel_time") || !e.args) continue;
    const out = (e.args.output_type_shape || [])[0];
    const dims = out ? Object.values(out)[0] : [];
    // a convolution's weight shape tells a depthwise one from a pointwise one
    const ins = e.args.input_type_shape || [];
    const w = /Conv/.test(e.args.op_name) && ins[1] ? ` w=${Object.values(ins[1])[0].join("x")}` : "";
    const key = `${e.args.op_name},out=${dims.slice(1).join("x")}${w}`;
    const r = rec.get(key) || { calls: 0, us: 0 };
    r.calls += 1;
    r.us += e.dur;
    rec.set(key, r);
    total += e.dur;
  }
  const rows = [...rec.entries()].sort((x, y) => y[1].us - x[1].us || (x[0] < y[0] ? -1 : 1));
  let csv = "kernel,shape,calls_per_clip,ms_per_clip,share,gflop_s\n";
  for (const [key, r] of rows)
    csv += `${key},${(r.calls / clips).toFixed(2)},${(r.us / 1e3 / clips).toFixed(4)},${(total ? r.us / total : 0).toFixed(4)},\n`;
  csv += `total,${rows.length} records,,${(total / 1e3 / clips).toFixed(4)},1.0000,\n`;
  writeOutput(path, csv);
  process.stderr.write(`${PROG}: profile: nodes ${(total / 1e3 / clips).toFixed(3)} ms/clip over ${clips} clips -> ${path}\n`);
}

main();
