#!/usr/bin/env -S npx tsx
// Builds a mirror folder for `bootstrap --mirror <dir>`: every upstream manifest and chart at the path the
// bootstrap looks for (see lib/upstream.mts), plus MANIFEST.json saying where each file came from and what
// is missing and why.
//
//   tsx scripts/cluster/mirror.mts --out <dir> --from releases     download the release assets and charts
//                                                                  (a machine with internet, then copy the
//                                                                  folder to an air-gapped one)
//   tsx scripts/cluster/mirror.mts --out <dir> --from go-modules   render what the Go module proxy carries:
//                                                                  Knative Serving (+ networking, caching) and
//                                                                  the prometheus-operator CRDs; the rest is
//                                                                  listed as skipped with the reason
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chalk, minimist } from 'zx';
import { parseScriptArgs } from '../lib/options.mts';
import { buildGoModuleMirror, type MirrorReport } from './lib/go-module-mirror.mts';
import { CommandError, Kubectl } from './lib/kubectl.mts';
import { upstreamCharts, upstreamFiles } from './lib/upstream.mts';
import { loadVersions } from './lib/versions.mts';

async function fromReleases(out: string): Promise<MirrorReport> {
  const versions = loadVersions();
  const report: MirrorReport = { files: {}, skipped: {} };
  for (const files of Object.values(upstreamFiles(versions))) {
    for (const file of files) {
      try {
        const response = await fetch(file.url, { signal: AbortSignal.timeout(120_000) });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const target = path.join(out, file.mirrorPath);
        mkdirSync(path.dirname(target), { recursive: true });
        writeFileSync(target, await response.text());
        report.files[file.mirrorPath] = file.url;
      } catch (error) {
        report.skipped[file.mirrorPath] = `${file.url}: ${(error as Error).message}`;
      }
    }
  }
  const kubectl = new Kubectl({});
  for (const chart of Object.values(upstreamCharts(versions))) {
    try {
      mkdirSync(path.join(out, 'charts'), { recursive: true });
      await kubectl.helm([
        'pull',
        chart.name,
        '--repo',
        chart.repo,
        '--version',
        chart.version,
        '-d',
        path.join(out, 'charts'),
      ]);
      report.files[chart.mirrorPath] = `helm chart ${chart.name} ${chart.version} from ${chart.repo}`;
    } catch (error) {
      report.skipped[chart.mirrorPath] = error instanceof CommandError ? error.message : String(error);
    }
  }
  return report;
}

export async function buildMirror(out: string, from: 'releases' | 'go-modules'): Promise<MirrorReport> {
  mkdirSync(out, { recursive: true });
  const report = from === 'releases' ? await fromReleases(out) : await buildGoModuleMirror(out);
  writeFileSync(path.join(out, 'MANIFEST.json'), `${JSON.stringify({ from, ...report }, null, 2)}\n`);
  return report;
}

export function readMirrorReport(dir: string): MirrorReport {
  return JSON.parse(readFileSync(path.join(dir, 'MANIFEST.json'), 'utf8')) as MirrorReport;
}

const usage = 'usage: mirror.mts --out <dir> --from releases|go-modules';

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = parseScriptArgs(minimist, process.argv.slice(2), ['out', 'from'], usage);
  const out = argv.out ? path.resolve(String(argv.out)) : undefined;
  const from = String(argv.from ?? '');
  if (!out || (from !== 'releases' && from !== 'go-modules')) {
    console.error(usage);
    process.exit(2);
  }
  const report = await buildMirror(out, from);
  for (const [file, source] of Object.entries(report.files))
    console.log(`${chalk.green('mirrored')} ${file}  ← ${source}`);
  for (const [file, reason] of Object.entries(report.skipped))
    console.log(`${chalk.yellow('skipped')}  ${file}: ${reason}`);
  console.log(
    `${Object.keys(report.files).length} mirrored, ${Object.keys(report.skipped).length} skipped → ${out}`,
  );
}
