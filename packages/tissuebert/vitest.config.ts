import { meddlVitestConfig } from '../../vitest.shared';

export default meddlVitestConfig();
