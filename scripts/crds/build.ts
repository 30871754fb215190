// The Tenant and ModelPool CRDs, built from the zod schemas in core/ plus what only a CRD can
// carry: CEL rules for what can be checked statically (mirroring the zod refinements), printer
// columns, short names and the status subresource.
import { z } from "zod";
import { MODEL_POOL_KIND, ModelPoolSpec, ModelPoolStatus } from "../../core/model-pool.ts";
import { API_GROUP, API_VERSION, TenantSpec } from "../../core/tenant.ts";
import { TenantStatus } from "../../core/tenant-status.ts";
import { annotate, toStructural } from "./structural.ts";

type Json = Record<string, unknown>;
type Rule = { rule: string; message: string; fieldPath?: string; reason?: string };
export type Crd = Json & { metadata: { name: string } };

const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";
const TENANT_NAME = "^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$";
// One path segment that is neither '.' nor '..' and holds no '/', '%' or '\\' (the same spelling
// rules as core/storage-layout.ts's checkAdapterSource, which also checks the tenant).
const SEGMENT = String.raw`([^/%\\.][^/%\\]*|\.[^/%\\.][^/%\\]*|\.\.[^/%\\]+)`;
const ADAPTER_SOURCE = `^s3://[^/]+/tenants/[^/]+/adapters/(${SEGMENT}/)*${SEGMENT}/?$`;

function jsonSchema(schema: z.ZodType): Json {
  // io "input": fields with defaults are optional for the writer; the API server fills them in.
  return toStructural(z.toJSONSchema(schema, { target: "openapi-3.0", io: "input" }));
}

function rules(...list: Rule[]): Json {
  return { "x-kubernetes-validations": list };
}

function tenantSchema(): Json {
  const spec = jsonSchema(TenantSpec);
  annotate(
    spec,
    "",
    rules(
      {
        rule: "!has(self.tier) || self.tier != 'dedicated' || has(self.dedicated)",
        message: "tier 'dedicated' requires spec.dedicated",
        fieldPath: ".dedicated",
        reason: "FieldValueRequired",
      },
      {
        rule: "!has(self.adapters) || self.adapters.all(a, a.baseModel in self.models)",
        message: "every adapter's baseModel must be listed in spec.models",
        fieldPath: ".adapters",
      },
    ),
  );
  annotate(
    spec,
    "owners[]",
    rules(
      {
        rule: "self.kind != 'ServiceAccount' || has(self.__namespace__)",
        message: "a ServiceAccount owner needs a namespace",
      },
      {
        rule: `self.kind != 'ServiceAccount' || self.name.matches('${DNS_SUBDOMAIN}')`,
        message:
          "a ServiceAccount owner's name must be a DNS subdomain (lowercase letters, digits, '-' and '.')",
      },
      {
        rule: `!has(self.__namespace__) || self.__namespace__.matches('${DNS_LABEL}')`,
        message: "an owner's namespace must be a DNS label",
      },
      {
        // system:authenticated, system:masters... would hand the tenant's namespace to everyone.
        rule: "!self.name.startsWith('system:')",
        message: "owner names starting with 'system:' belong to Kubernetes itself and cannot own a tenant",
      },
    ),
  );
  annotate(
    spec,
    "adapters[]",
    rules(
      { rule: "self.source.startsWith('s3://')", message: "source must be an s3:// URI" },
      {
        rule: `self.source.matches(r'${ADAPTER_SOURCE}')`,
        message:
          "source must look like s3://<bucket>/tenants/<tenant>/adapters/<path>/, " +
          "without '.', '..', empty segments, '\\' or '%'",
      },
    ),
  );
  return {
    type: "object",
    required: ["spec"],
    // Only a rule at the root sees metadata.name. With the item rule's shape, the fifth
    // '/'-separated part of a source is its tenant segment (s3: / "" / bucket / tenants / <tenant>).
    // split with a limit and no string built from the name keep the rule within the cost budget.
    ...rules({
      rule:
        "!has(self.spec.adapters) || self.spec.adapters.all(a, " +
        "a.source.split('/', 6).size() == 6 && a.source.split('/', 6)[4] == self.metadata.name)",
      message: "every adapter source must lie under s3://<bucket>/tenants/<this tenant's name>/adapters/",
      fieldPath: ".spec.adapters",
    }),
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      // The name becomes the namespace tenant-<name>, S3 prefixes and label values.
      metadata: {
        type: "object",
        properties: { name: { type: "string", maxLength: 40, pattern: TENANT_NAME } },
      },
      spec,
      status: jsonSchema(TenantStatus),
    },
  };
}

function modelPoolSchema(): Json {
  const spec = jsonSchema(ModelPoolSpec);
  annotate(
    spec,
    "",
    rules({
      rule: "!has(self.maxCpuLoras) || !has(self.maxLoras) || self.maxCpuLoras >= self.maxLoras",
      message: "maxCpuLoras must be >= maxLoras",
      fieldPath: ".maxCpuLoras",
    }),
  );
  return {
    type: "object",
    required: ["spec"],
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      spec,
      status: jsonSchema(ModelPoolStatus),
    },
  };
}

const readyColumn = (name: string) => ({
  name,
  type: "string",
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
});
const ageColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

function crd(opts: {
  kind: string;
  plural: string;
  shortNames: string[];
  scope: "Cluster" | "Namespaced";
  schema: Json;
  columns: Json[];
}): Crd {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${opts.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      names: {
        kind: opts.kind,
        listKind: `${opts.kind}List`,
        plural: opts.plural,
        singular: opts.kind.toLowerCase(),
        shortNames: opts.shortNames,
        categories: ["loraplex"],
      },
      scope: opts.scope,
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: opts.columns,
          schema: { openAPIV3Schema: opts.schema },
        },
      ],
    },
  };
}

export function buildCrds(): Crd[] {
  // "namespace" is a CEL reserved word: a field of that name is spelled __namespace__ in rules.
  return [
    crd({
      kind: "Tenant",
      plural: "tenants",
      shortNames: ["tn"],
      scope: "Cluster",
      schema: tenantSchema(),
      columns: [
        { name: "Tier", type: "string", jsonPath: ".spec.tier" },
        readyColumn("Ready"),
        {
          name: "Reason",
          type: "string",
          jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
          priority: 1,
        },
        { name: "Namespace", type: "string", jsonPath: ".status.namespace" },
        { name: "Pool", type: "string", jsonPath: ".status.pool", priority: 1 },
        ageColumn,
      ],
    }),
    crd({
      kind: MODEL_POOL_KIND,
      plural: "modelpools",
      shortNames: ["mp"],
      scope: "Namespaced",
      schema: modelPoolSchema(),
      columns: [
        { name: "Model", type: "string", jsonPath: ".spec.model" },
        { name: "Engine", type: "string", jsonPath: ".status.engine" },
        { name: "Replicas", type: "integer", jsonPath: ".spec.replicas" },
        { name: "Available", type: "integer", jsonPath: ".status.readyReplicas" },
        readyColumn("Ready"),
        ageColumn,
      ],
    }),
  ];
}
