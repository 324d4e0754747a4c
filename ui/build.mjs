// Builds the console into one directory that certfleetd serves with --ui-dir:
// index.html, app.js (the bundle, minified, with its source map) and app.css.
// Usage: node build.mjs [OUT_DIR]   (default: ../build/ui-dist)
import { build } from "esbuild";
import { copyFileSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dest = resolve(process.argv[2] || join(here, "..", "build", "ui-dist"));
// Built beside the destination and swapped in at the end, so a failed build leaves the last
// good one in place.
const out = `${dest}.tmp`;
const common = { bundle: true, minify: true, logLevel: "warning", legalComments: "linked",
  target: ["chrome110", "firefox110", "safari16"] };

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({ ...common, entryPoints: [join(here, "src", "main.js")],
  outfile: join(out, "app.js"), format: "iife", sourcemap: "linked" });
await build({ ...common, entryPoints: [join(here, "src", "app.css")],
  outfile: join(out, "app.css") });
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));
rmSync(dest, { recursive: true, force: true });
renameSync(out, dest);
console.log(`console built into ${dest}`);
