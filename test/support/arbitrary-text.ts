// fast-check arbitraries for client-controlled text: any UTF-16 code unit, with the ones
// PostgreSQL refuses (NUL, lone surrogates) and chat-template markers drawn often.
import fc from "fast-check";

const anyUnit = fc.oneof(
  fc.constantFrom("\0", "\ud800", "\udbff", "\udc00", "\udfff", "😀", "\u2028", "<|im_start|>"),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
);

export const anyText = (maxLength: number) => fc.string({ unit: anyUnit, maxLength });
