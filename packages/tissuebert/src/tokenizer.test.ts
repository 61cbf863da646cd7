import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cpgCallsFromXm,
  detokenize,
  kmerVocabulary,
  methylationTokens,
  referenceFromMd,
  tokenizeSequence,
  UNK_ID,
  vocabSize,
} from './tokenizer';

const data = resolve(__dirname, '../../../../shared/data');

describe('3-mer vocabulary', () => {
  it('has 5 specials then 64 k-mers in A<C<G<T order (MethylBERT ids)', () => {
    const v = kmerVocabulary(3);
    expect(v).toHaveLength(69);
    expect(vocabSize(3)).toBe(69);
    expect(v.slice(0, 5)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    expect(v[5]).toBe('AAA');
    expect(v[6]).toBe('AAC');
    expect(v[68]).toBe('TTT');
    expect(v.slice(5)).toEqual([...v.slice(5)].sort());
  });

  it('tokenizes with stride 1 and maps k-mers with N to [UNK]', () => {
    const ids = tokenizeSequence('ACGTNA');
    expect(ids).toHaveLength(4);
    expect(detokenize(ids)).toEqual(['ACG', 'CGT', '[UNK]', '[UNK]']);
    expect(ids[2]).toBe(UNK_ID);
    expect(tokenizeSequence('x'.repeat(150))).toHaveLength(148);
    expect(tokenizeSequence('A'.repeat(150), { methylbertCompat: true })).toHaveLength(147);
  });

  it('puts the CpG in the middle of its token', () => {
    //              0123456789
    const seq = 'AACGTTCGAA';
    const m = methylationTokens(seq.length, [2, 6], [1, 0]);
    const toks = detokenize(tokenizeSequence(seq));
    expect(toks[1]).toBe('ACG');
    expect(m[1]).toBe(1);
    expect(toks[5]).toBe('TCG');
    expect(m[5]).toBe(0);
    expect(Array.from(m).filter((s) => s !== 2)).toHaveLength(2);
  });
});

describe('MethylBERT test_seq.csv (CompEpigen/methylbert test data)', () => {
  const lines = readFileSync(join(data, 'methylbert/test_seq.csv'), 'utf8').trim().split('\n');
  const header = lines[0].split('\t');
  const col = (name: string) => header.indexOf(name);
  const rows = lines.slice(1).map((l) => l.split('\t'));

  it('reproduces dna_seq from the reference under each read (read SEQ + CIGAR + MD), dropping the last 3-mer', () => {
    let exact = 0;
    let prefix = 0;
    for (const r of rows) {
      const seq = r[col('seq')];
      const ref = referenceFromMd(seq, r[col('cigar')], r[col('MD')]);
      const expected = r[col('dna_seq')].split(' ');
      // MethylBERT tokenizes len(SEQ) − 1 reference bases from POS (len(SEQ) − 3 tokens).
      expect(expected).toHaveLength(seq.length - 3);
      // All 3-mers of the first len(SEQ) − 1 reference bases.
      const ours = Array.from(detokenize(tokenizeSequence(ref.slice(0, seq.length - 1))));
      if (ref.length >= seq.length - 1) {
        expect(ours).toHaveLength(expected.length);
        expect(ours.slice(0, expected.length)).toEqual(expected);
        exact++;
      } else {
        // Reads with insertions align to fewer reference bases than MethylBERT used: compare what we have.
        const n = Math.min(ours.length, expected.length);
        expect(ours.slice(0, n)).toEqual(expected.slice(0, n));
        prefix++;
      }
    }
    expect(rows).toHaveLength(612);
    expect(exact).toBe(558);
    expect(prefix).toBe(54);
  });

  it('reproduces methyl_seq from the Bismark XM tag (CpG C mid-token, G→A strand shifted by one)', () => {
    let same = 0;
    let sameNoIndel = 0;
    let noIndel = 0;
    for (const r of rows) {
      const seq = r[col('seq')];
      const { offsets, states } = cpgCallsFromXm(r[col('XM')], r[col('XG')] as 'CT' | 'GA');
      const m = Array.from(methylationTokens(seq.length, offsets, states, { methylbertCompat: true })).join(
        '',
      );
      const ok = m === r[col('methyl_seq')];
      if (ok) same++;
      if (/^\d+M$/.test(r[col('cigar')])) {
        noIndel++;
        if (ok) sameNoIndel++;
      }
    }
    expect(noIndel).toBe(515);
    expect(sameNoIndel).toBe(515);
    expect(same).toBe(551);
  });
});
