// Parses every Mermaid graph of the golden trees' PERMISSIONS.md files and of the golden
// merge-request notes (`diff --format markdown`, `*.markdown`) with Mermaid's own parser (npm
// `mermaid`, in a jsdom window), so a graph GitLab would fail to draw fails CI.
// Usage: node scripts/check_mermaid.mjs <node_modules folder holding mermaid and jsdom> <tree>...
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const [modules, ...trees] = process.argv.slice(2);
const require = createRequire(join(resolve(modules), 'noop.js'));
const { JSDOM } = require('jsdom');
const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser;
const { default: mermaid } = await import(require.resolve('mermaid'));

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (name === 'PERMISSIONS.md' || name.endsWith('.markdown')) yield path;
  }
}

let graphs = 0;
const failed = [];
for (const tree of trees) {
  for (const path of files(tree)) {
    const text = readFileSync(path, 'utf8');
    for (const m of text.matchAll(/```mermaid\n([\s\S]*?)```/g)) {
      graphs += 1;
      try {
        await mermaid.parse(m[1]);
      } catch (e) {
        failed.push(`${path}: ${String(e).split('\n').slice(0, 4).join(' | ')}\n${m[1]}`);
      }
    }
  }
}
for (const f of failed) console.log(`check-mermaid: FAILED ${f}`);
console.log(`check-mermaid: ${graphs} graphs parsed, ${failed.length} failed`);
if (graphs === 0) {
  console.log('check-mermaid: no graph found');
  process.exit(1);
}
process.exit(failed.length ? 1 : 0);
