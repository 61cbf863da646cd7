import { meddlVitestConfig } from '../../vitest.shared.ts';

export default meddlVitestConfig();
