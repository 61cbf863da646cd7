export { ManifestError, type ManifestIssue, SplitError } from './errors';
export { type ManifestFormat, type ManifestOptions, parseManifest, readManifest } from './manifest';
export {
  type BalanceOptions,
  type BalanceReport,
  balanceReport,
  foldIndices,
  type GroupKFoldOptions,
  groupRatioSplit,
  type RatioSplitOptions,
  type RowKey,
  type SplitBalance,
  stratifiedGroupKFold,
} from './splits';
