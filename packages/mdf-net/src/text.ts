/**
 * Report text: a BERT WordPiece tokenizer run by Hugging Face's maintained tokenizers.js
 * (@huggingface/tokenizers, pure JS, no network), loaded from a standard `tokenizer.json` or a
 * BERT `vocab.txt` (turned into the tokenizer.json that `BertTokenizerFast` would save:
 * BertNormalizer lower-casing + accent stripping, BertPreTokenizer, WordPiece with `##`, and a
 * [CLS] … [SEP] template). Truncation and padding to a fixed length produce the attention mask.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { MdfNetDataError } from './errors';

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/** A tokenized batch row: ids padded with [PAD] to `maxLength`, mask 1 on real tokens. */
export interface EncodedText {
  ids: Int32Array;
  attentionMask: Uint8Array;
  tokens: string[];
}

/** The tokenizer.json a BERT `vocab.txt` describes (the layout `BertTokenizerFast.save` writes). */
export function bertTokenizerJson(vocab: readonly string[], options: { lowercase?: boolean } = {}): object {
  const lowercase = options.lowercase ?? true;
  const index = new Map(vocab.map((t, i) => [t, i]));
  const need = (t: string): number => {
    const id = index.get(t);
    if (id === undefined)
      throw new MdfNetDataError('vocab', `special token ${t} is missing from the vocabulary`);
    return id;
  };
  const specials = SPECIAL_TOKENS.filter((t) => index.has(t));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((t) => ({
      id: need(t),
      content: t,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [need('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [need('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
}

/** Fixed-length WordPiece encoding of reports. */
export class ReportTokenizer {
  readonly padId: number;
  readonly vocabSize: number;
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly maxLength: number,
    readonly source: string,
  ) {
    const pad = tokenizer.token_to_id('[PAD]');
    this.padId = pad ?? 0;
    this.vocabSize = tokenizer.get_vocab(true).size;
  }

  /** Loads `tokenizer.json` (with `tokenizer_config.json` beside it when present) or a BERT `vocab.txt`. */
  static fromFile(path: string, maxLength: number): ReportTokenizer {
    if (!existsSync(path)) throw new MdfNetDataError(path, 'tokenizer file does not exist');
    const text = readFileSync(path, 'utf8');
    if (basename(path).endsWith('.txt')) {
      const vocab = text.split(/\r?\n/).filter((l, i, a) => l !== '' || i < a.length - 1);
      if (!vocab.includes('[UNK]')) throw new MdfNetDataError(path, 'vocab.txt has no [UNK] token');
      return new ReportTokenizer(new Tokenizer(bertTokenizerJson(vocab), {}), maxLength, path);
    }
    let json: { model?: { type?: string } };
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new MdfNetDataError(path, `not valid JSON: ${(e as Error).message}`);
    }
    if (!json.model?.type) throw new MdfNetDataError(path, 'not a tokenizer.json (no model.type)');
    const configPath = join(dirname(path), 'tokenizer_config.json');
    const config = existsSync(configPath) ? JSON.parse(readFileSync(configPath, 'utf8')) : {};
    try {
      return new ReportTokenizer(new Tokenizer(json, config), maxLength, path);
    } catch (e) {
      throw new MdfNetDataError(path, `cannot build the tokenizer: ${(e as Error).message}`);
    }
  }

  static fromVocab(vocab: readonly string[], maxLength: number): ReportTokenizer {
    return new ReportTokenizer(new Tokenizer(bertTokenizerJson(vocab), {}), maxLength, '<vocab>');
  }

  tokenize(text: string): string[] {
    return this.tokenizer.tokenize(text);
  }

  /** [CLS] tokens [SEP], truncated to maxLength (keeping the final [SEP]) and padded. */
  encode(text: string): EncodedText {
    const enc = this.tokenizer.encode(text);
    let ids = enc.ids;
    let tokens = enc.tokens;
    if (ids.length > this.maxLength) {
      ids = [...ids.slice(0, this.maxLength - 1), ids[ids.length - 1]];
      tokens = [...tokens.slice(0, this.maxLength - 1), tokens[tokens.length - 1]];
    }
    const out = new Int32Array(this.maxLength).fill(this.padId);
    const mask = new Uint8Array(this.maxLength);
    ids.forEach((id, i) => {
      out[i] = id;
      mask[i] = 1;
    });
    return { ids: out, attentionMask: mask, tokens };
  }

  decode(ids: ArrayLike<number>): string {
    return this.tokenizer.decode(Array.from(ids), { skip_special_tokens: true });
  }
}

/**
 * Builds a WordPiece vocabulary for a corpus: the special tokens, every character seen (alone
 * and as a `##` continuation, so no word maps to [UNK]), then whole lower-cased words and
 * punctuation by frequency (count ≥ minCount, at most maxSize entries in all). This is a word
 * vocabulary with character fallback, not the likelihood-based WordPiece trainer; the
 * tokenizer that reads it is the standard one.
 */
export function buildVocab(
  texts: Iterable<string>,
  options: { minCount?: number; maxSize?: number } = {},
): string[] {
  const { minCount = 2, maxSize = 30000 } = options;
  const counts = new Map<string, number>();
  const chars = new Set<string>();
  for (const text of texts) {
    const norm = text
      .normalize('NFD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase();
    for (const w of norm.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? []) {
      counts.set(w, (counts.get(w) ?? 0) + 1);
      for (const ch of w) chars.add(ch);
    }
  }
  const charList = [...chars].sort();
  const vocab: string[] = [...SPECIAL_TOKENS, ...charList, ...charList.map((c) => `##${c}`)];
  const seen = new Set(vocab);
  const words = [...counts.entries()]
    .filter(([w, c]) => c >= minCount && !seen.has(w))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [w] of words) {
    if (vocab.length >= maxSize) break;
    vocab.push(w);
  }
  return vocab;
}

/** Writes vocab.txt and the matching tokenizer.json (+ tokenizer_config.json) atomically into `dir`. */
export function writeTokenizerFiles(dir: string, vocab: readonly string[]): void {
  const write = (name: string, text: string) => {
    const tmp = join(dir, `.${name}.tmp-${process.pid}`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, name));
  };
  write('vocab.txt', `${vocab.join('\n')}\n`);
  write('tokenizer.json', `${JSON.stringify(bertTokenizerJson(vocab))}\n`);
  write(
    'tokenizer_config.json',
    `${JSON.stringify({ tokenizer_class: 'BertTokenizer', do_lower_case: true, cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]' }, null, 2)}\n`,
  );
}
