// The simulator's tokenizer: deterministic, dependency-free and cheap, so usage numbers are
// honest and repeatable. Rules:
//   - a run of letters/digits is split into pieces of at most 4 characters, each one token;
//   - every other non-space character (punctuation, symbols) is one token;
//   - whitespace belongs to the token that follows it; trailing whitespace is one token.
// So "Hello, world" is ["Hell", "o", ",", " worl", "d"] and joining the tokens gives the text back.
// It only approximates a BPE tokenizer's counts (about 4 characters per token on prose).

const TOKEN = /\s*(?:[\p{L}\p{N}]{1,4}|[^\s\p{L}\p{N}])|\s+/gu;

export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

export function countTokens(text: string): number {
  let n = 0;
  TOKEN.lastIndex = 0;
  while (TOKEN.exec(text) !== null) n++;
  return n;
}
