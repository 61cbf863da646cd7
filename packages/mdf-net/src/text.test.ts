import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeClinical, fitClinicalStats, parseClinicalRow, VITALS } from './clinical';
import { MdfNetDataError } from './errors';
import { applyUncertainPolicy, parseLabelCell } from './labels';
import { buildVocab, ReportTokenizer, SPECIAL_TOKENS, writeTokenizerFiles } from './text';

// A hand-made BERT vocabulary; expected pieces worked out by hand from BERT's rules
// (lower-case + strip accents, split on whitespace and punctuation, greedy longest-match WordPiece).
const VOCAB = [
  ...SPECIAL_TOKENS,
  'no',
  'pneum',
  '##othorax',
  '##onia',
  'effusion',
  ',',
  '.',
  'small',
  '##er',
  'e',
  '##f',
];

describe('ReportTokenizer (tokenizers.js WordPiece)', () => {
  it('splits words greedily into the longest vocabulary pieces', () => {
    const tok = ReportTokenizer.fromVocab(VOCAB, 16);
    expect(tok.tokenize('No pneumothorax, Pneumonia.')).toEqual([
      'no',
      'pneum',
      '##othorax',
      ',',
      'pneum',
      '##onia',
      '.',
    ]);
    expect(tok.tokenize('Smaller EFFUSION')).toEqual(['small', '##er', 'effusion']);
    // a word with no complete segmentation becomes [UNK] as a whole (BERT's rule)
    expect(tok.tokenize('pneumx effusión')).toEqual(['[UNK]', 'effusion']);
  });

  it('adds [CLS]/[SEP], pads with [PAD] and masks, truncating but keeping [SEP]', () => {
    const tok = ReportTokenizer.fromVocab(VOCAB, 6);
    const short = tok.encode('no effusion');
    expect(Array.from(short.ids)).toEqual([2, 5, 9, 3, 0, 0]);
    expect(Array.from(short.attentionMask)).toEqual([1, 1, 1, 1, 0, 0]);
    const long = tok.encode('no pneumothorax, no effusion.');
    expect(Array.from(long.ids)).toEqual([2, 5, 6, 7, 10, 3]);
    expect(Array.from(long.attentionMask)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(tok.decode(short.ids)).toBe('no effusion');
  });

  it('loads the same tokenizer from vocab.txt and from tokenizer.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdf-tok-'));
    const vocab = buildVocab(['No pleural effusion.', 'Small left pleural effusion.', 'no pneumothorax'], {
      minCount: 2,
    });
    expect(vocab.slice(0, 5)).toEqual([...SPECIAL_TOKENS]);
    expect(vocab).toContain('pleural');
    expect(vocab).toContain('##x');
    writeTokenizerFiles(dir, vocab);
    const a = ReportTokenizer.fromFile(join(dir, 'vocab.txt'), 24);
    const b = ReportTokenizer.fromFile(join(dir, 'tokenizer.json'), 24);
    const text = 'Small right pleural effusion; no pneumothorax.';
    expect(Array.from(a.encode(text).ids)).toEqual(Array.from(b.encode(text).ids));
    // 'small' occurs once (< minCount): characters with ## continuations; 'g' never occurs: [UNK]
    expect(b.tokenize('small pleural effusion right')).toEqual([
      's',
      '##m',
      '##a',
      '##l',
      '##l',
      'pleural',
      'effusion',
      '[UNK]',
    ]);
    expect(a.vocabSize).toBe(vocab.length);
  });

  it('names the file when a tokenizer cannot be read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdf-tok-'));
    writeFileSync(join(dir, 'tokenizer.json'), '{not json');
    expect(() => ReportTokenizer.fromFile(join(dir, 'tokenizer.json'), 8)).toThrow(MdfNetDataError);
    expect(() => ReportTokenizer.fromFile(join(dir, 'tokenizer.json'), 8)).toThrow(/tokenizer\.json/);
    expect(() => ReportTokenizer.fromFile(join(dir, 'absent.json'), 8)).toThrow(/does not exist/);
  });
});

describe('labels and clinical features', () => {
  it('applies U-Ones, U-Zeros and U-Ignore; missing is always masked', () => {
    const labels = [1, 0, -1, null] as const;
    expect(applyUncertainPolicy([...labels], 'ones')).toEqual({
      target: Float32Array.of(1, 0, 1, 0),
      mask: Float32Array.of(1, 1, 1, 0),
    });
    expect(applyUncertainPolicy([...labels], 'zeros').target).toEqual(Float32Array.of(1, 0, 0, 0));
    expect(applyUncertainPolicy([...labels], 'ignore').mask).toEqual(Float32Array.of(1, 1, 0, 0));
    expect(parseLabelCell('-1.0')).toBe(-1);
    expect(parseLabelCell('')).toBeNull();
    expect(parseLabelCell('2')).toBeUndefined();
  });

  it('standardizes with training statistics and flags missing vitals', () => {
    const row = (age: string, t: string) =>
      parseClinicalRow({ age, temperature: t, sex: 'F', acuity: '2' }, 'clinical.csv', 1);
    const train = [row('40', '37'), row('60', '39')];
    const stats = fitClinicalStats(train);
    expect(stats.mean[0]).toBe(50);
    expect(stats.std[0]).toBe(10);
    const enc = encodeClinical(row('70', ''), stats);
    expect(enc.numeric[0]).toBeCloseTo(2, 6);
    expect(enc.numeric[1]).toBe(0);
    expect(enc.numeric[VITALS.length + 1]).toBe(1);
    expect(enc.numeric[VITALS.length]).toBe(0);
    expect(enc.sex).toBe(1);
    expect(enc.acuity).toBe(2);
    expect(() => parseClinicalRow({ age: 'old' }, 'clinical.csv', 7)).toThrow(/clinical\.csv:7: column age/);
    expect(() => parseClinicalRow({ acuity: '9' }, 'clinical.csv', 3)).toThrow(MdfNetDataError);
  });
});
