// Bundle the console's ES modules (and Leaflet's CSS) into backend/web/static/dist/ with esbuild.
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "static", "dist");
const watch = process.argv.includes("--watch");

rmSync(outdir, { recursive: true, force: true });
const options = {
  entryPoints: { console: join(here, "src", "main.js") },
  outdir,
  bundle: true,
  format: "esm",
  splitting: true, // ECharts goes in its own chunk, loaded when reports or the wall open
  minify: !watch,
  sourcemap: "linked",
  target: ["chrome110", "firefox110", "safari16"],
  chunkNames: "chunks/[name]-[hash]",
  loader: { ".png": "dataurl", ".svg": "dataurl" },
  legalComments: "linked",
  logLevel: "info",
};
if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
