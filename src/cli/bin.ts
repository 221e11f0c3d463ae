#!/usr/bin/env node
/**
 * The `wasmlm` command's entry (dist/cli.js): the V8 settings of the CLI's own process (memory.ts) before any
 * of the package's code loads, then the commands (main.ts). V8's young generation grows while modules load,
 * so a setting made after the imports would come too late for what loading them allocates.
 */
import { leanHeap } from './memory.js';

leanHeap();
await import('./main.js');
