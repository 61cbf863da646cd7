import { expect, it } from 'vitest';
import * as data from './index';

it('exports a module', () => {
  expect(typeof data).toBe('object');
});
