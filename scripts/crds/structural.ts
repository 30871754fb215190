// Turns zod's JSON Schema output into a Kubernetes *structural* OpenAPI v3 schema: the subset
// apiextensions.k8s.io/v1 accepts (every node typed, no const / $schema / propertyNames,
// no `additionalProperties: false` beside `properties`, only formats the API server knows).
type Json = Record<string, unknown>;

// Formats kube-apiserver validates; anything else zod emits (e.g. "starts_with") is dropped
// because the API server would reject the CRD or ignore it silently.
const KNOWN_FORMATS = new Set([
  "uri",
  "email",
  "hostname",
  "ipv4",
  "ipv6",
  "cidr",
  "uuid",
  "date",
  "date-time",
  "byte",
]);
const DROPPED_KEYS = new Set(["$schema", "$id", "id", "propertyNames", "examples", "readOnly", "writeOnly"]);

export function toStructural(schema: unknown, path = "$"): Json {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new Error(`${path}: expected a schema object`);
  }
  const src = schema as Json;
  for (const k of ["anyOf", "oneOf", "allOf", "not", "$ref"]) {
    // Union types have no structural form; the core schemas avoid them on purpose.
    if (k in src) throw new Error(`${path}: '${k}' cannot be expressed in a structural CRD schema`);
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(src)) {
    if (DROPPED_KEYS.has(key)) continue;
    switch (key) {
      case "const":
        out.enum = [value];
        break;
      case "additionalProperties":
        if (typeof value === "object" && value !== null)
          out.additionalProperties = toStructural(value, `${path}.*`);
        break;
      case "properties":
        out.properties = Object.fromEntries(
          Object.entries(value as Json).map(([name, sub]) => [name, toStructural(sub, `${path}.${name}`)]),
        );
        break;
      case "items":
        out.items = toStructural(value, `${path}[]`);
        break;
      case "format":
        if (KNOWN_FORMATS.has(value as string)) out.format = value;
        break;
      case "minimum":
      case "maximum":
        // zod writes the safe-integer bounds on every int(); they add nothing for int64 fields.
        if (Math.abs(value as number) !== Number.MAX_SAFE_INTEGER) out[key] = value;
        break;
      case "pattern":
        // zod's date-time pattern is longer than the API server's regex budget, and format covers it.
        if (src.format !== "date-time") out.pattern = value;
        break;
      default:
        out[key] = value;
    }
  }
  if (out.type === undefined && out.enum !== undefined) out.type = typeof (out.enum as unknown[])[0];
  if (out.type === "number" && Array.isArray(out.enum) && out.enum.every((v) => Number.isInteger(v))) {
    out.type = "integer";
  }
  if (out.type === undefined) throw new Error(`${path}: every node of a structural schema needs a type`);
  return out;
}

/** Walks `properties` / `items` along a dotted path ("owners[].kind") and merges `extra` into that node. */
export function annotate(schema: Json, path: string, extra: Json): void {
  let node: Json = schema;
  for (const part of path.split(".").filter(Boolean)) {
    const name = part.replace(/\[\]$/, "");
    const props = node.properties as Json | undefined;
    const next = props?.[name] as Json | undefined;
    if (!next) throw new Error(`schema has no property '${name}' on the way to '${path}'`);
    node = next;
    if (part.endsWith("[]")) {
      if (!node.items) throw new Error(`'${name}' in '${path}' is not an array`);
      node = node.items as Json;
    }
  }
  for (const [k, v] of Object.entries(extra)) {
    node[k] = Array.isArray(node[k]) && Array.isArray(v) ? [...(node[k] as unknown[]), ...v] : v;
  }
}
