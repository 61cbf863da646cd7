#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { allCommands } from './plugins';
import { buildProgram, isUserFacingError } from './program';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

try {
  await buildProgram(allCommands(), version).parseAsync(process.argv);
} catch (err) {
  if (isUserFacingError(err)) {
    console.error(`meddl: ${err.name}: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exitCode = 1;
}
