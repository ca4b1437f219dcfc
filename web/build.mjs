// Bundles src/ into dist/: index.html, app-<hash>.js (minified, MQTT.js and
// uPlot included), app-<hash>.css (ours + uPlot's). No CDN, no fonts: the
// binary serves everything (embed.go). Usage: node build.mjs
import * as esbuild from 'esbuild';
import { readFile, writeFile, readdir, rm, mkdir } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');

await mkdir(dist, { recursive: true });
for (const f of await readdir(dist)) {
  if (f !== '.gitkeep') await rm(path.join(dist, f), { recursive: true, force: true });
}

const result = await esbuild.build({
  entryPoints: { app: path.join(here, 'src', 'entry.js') },
  bundle: true,
  minify: process.env.DASH_PROFILE !== '1', // DASH_PROFILE=1: readable names in profiles
  format: 'iife',
  platform: 'browser',
  target: ['es2020', 'chrome90', 'firefox90', 'safari14'],
  entryNames: '[name]-[hash]',
  outdir: dist,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
  alias: { debug: path.join(here, 'src', 'nodebug.cjs') },
});

const outs = Object.keys(result.metafile.outputs).map((p) => path.basename(p));
const js = outs.find((f) => f.endsWith('.js'));
const css = outs.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`build: expected a .js and a .css output, got ${outs.join(', ')}`);

const html = (await readFile(path.join(here, 'src', 'index.html'), 'utf8')).replace('%JS%', js).replace('%CSS%', css);
await writeFile(path.join(dist, 'index.html'), html);

// Pre-compressed copies: the Go handler serves them to clients that accept
// gzip at no run-time cost.
for (const f of [js, css, 'index.html']) {
  const b = await readFile(path.join(dist, f));
  const gz = gzipSync(b, { level: 9 });
  await writeFile(path.join(dist, f + '.gz'), gz);
  console.log(`dist/${f}: ${b.length} bytes, ${gz.length} gzipped`);
}
