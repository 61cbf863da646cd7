import { commands as crcMil } from '@meddl/crc-mil';
import { commands as mdfNet } from '@meddl/mdf-net';
import { commands as tissuebert } from '@meddl/tissuebert';
import { commands as vjepa3d } from '@meddl/vjepa3d';
import type { CommandSpec } from '../command';

/** The four domain packages' commands (synth, train, eval, predict, and their own verbs). */
export function domainCommands(): CommandSpec[] {
  return [...tissuebert, ...crcMil, ...mdfNet, ...vjepa3d];
}
