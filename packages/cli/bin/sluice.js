#!/usr/bin/env node
// The `sluice` command. A committed launcher (not the build output), so npm can link the bin before
// the first build; it runs the built CLI.
import { run } from '../dist/main.js';

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
