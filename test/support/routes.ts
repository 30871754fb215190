// Every route the router serves, in one list, for tests that must cover them all (the fuzz test
// in test/router/fuzz-routes.test.ts). A new route belongs here: `:id` marks a path segment the
// fuzzer fills in; `auth` says which credential the route takes.
export type RouteSpec = {
  method: "GET" | "POST" | "DELETE";
  path: string;
  auth: "tenant" | "admin" | "none";
  /** What the body is: JSON, multipart (file uploads) or nothing. */
  body?: "json" | "multipart";
};

export const ROUTES: readonly RouteSpec[] = [
  // Inference (OpenAI)
  { method: "POST", path: "/v1/chat/completions", auth: "tenant", body: "json" },
  { method: "POST", path: "/v1/completions", auth: "tenant", body: "json" },
  { method: "POST", path: "/v1/embeddings", auth: "tenant", body: "json" },
  { method: "GET", path: "/v1/models", auth: "tenant" },
  { method: "GET", path: "/v1/models/:id", auth: "tenant" },
  // Responses (router/responses/)
  { method: "POST", path: "/v1/responses", auth: "tenant", body: "json" },
  { method: "GET", path: "/v1/responses/:id", auth: "tenant" },
  { method: "DELETE", path: "/v1/responses/:id", auth: "tenant" },
  { method: "GET", path: "/v1/responses/:id/input_items", auth: "tenant" },
  // Files and fine-tuning
  { method: "POST", path: "/v1/files", auth: "tenant", body: "multipart" },
  { method: "GET", path: "/v1/files", auth: "tenant" },
  { method: "GET", path: "/v1/files/:id", auth: "tenant" },
  { method: "GET", path: "/v1/files/:id/content", auth: "tenant" },
  { method: "DELETE", path: "/v1/files/:id", auth: "tenant" },
  { method: "POST", path: "/v1/fine_tuning/jobs", auth: "tenant", body: "json" },
  { method: "GET", path: "/v1/fine_tuning/jobs", auth: "tenant" },
  { method: "GET", path: "/v1/fine_tuning/jobs/:id", auth: "tenant" },
  { method: "POST", path: "/v1/fine_tuning/jobs/:id/cancel", auth: "tenant", body: "json" },
  { method: "GET", path: "/v1/fine_tuning/jobs/:id/events", auth: "tenant" },
  { method: "GET", path: "/v1/fine_tuning/jobs/:id/checkpoints", auth: "tenant" },
  // Vector stores (retrieval)
  { method: "POST", path: "/v1/vector_stores", auth: "tenant", body: "json" },
  { method: "GET", path: "/v1/vector_stores", auth: "tenant" },
  { method: "GET", path: "/v1/vector_stores/:id", auth: "tenant" },
  { method: "POST", path: "/v1/vector_stores/:id", auth: "tenant", body: "json" },
  { method: "DELETE", path: "/v1/vector_stores/:id", auth: "tenant" },
  { method: "POST", path: "/v1/vector_stores/:id/search", auth: "tenant", body: "json" },
  { method: "POST", path: "/v1/vector_stores/:id/files", auth: "tenant", body: "json" },
  { method: "GET", path: "/v1/vector_stores/:id/files", auth: "tenant" },
  { method: "GET", path: "/v1/vector_stores/:id/files/:id", auth: "tenant" },
  { method: "POST", path: "/v1/vector_stores/:id/files/:id", auth: "tenant", body: "json" },
  { method: "DELETE", path: "/v1/vector_stores/:id/files/:id", auth: "tenant" },
  { method: "GET", path: "/v1/vector_stores/:id/files/:id/content", auth: "tenant" },
  { method: "POST", path: "/v1/vector_stores/:id/file_batches", auth: "tenant", body: "json" },
  { method: "GET", path: "/v1/vector_stores/:id/file_batches/:id", auth: "tenant" },
  { method: "POST", path: "/v1/vector_stores/:id/file_batches/:id/cancel", auth: "tenant", body: "json" },
  { method: "GET", path: "/v1/vector_stores/:id/file_batches/:id/files", auth: "tenant" },
  // Usage, costs, audit and the dashboard's data
  { method: "GET", path: "/v1/organization/usage/vector_stores", auth: "tenant" },
  { method: "GET", path: "/v1/organization/usage/completions", auth: "tenant" },
  { method: "GET", path: "/v1/organization/usage/embeddings", auth: "tenant" },
  { method: "GET", path: "/v1/organization/usage/requests", auth: "tenant" },
  { method: "GET", path: "/v1/organization/costs", auth: "tenant" },
  { method: "GET", path: "/v1/audit", auth: "tenant" },
  { method: "GET", path: "/v1/audit/export", auth: "tenant" },
  { method: "GET", path: "/v1/dashboard/summary", auth: "tenant" },
  { method: "GET", path: "/v1/dashboard/export.csv", auth: "tenant" },
  { method: "GET", path: "/dashboard", auth: "none" },
  // Operator API
  { method: "POST", path: "/admin/v1/keys", auth: "admin", body: "json" },
  { method: "GET", path: "/admin/v1/keys", auth: "admin" },
  { method: "DELETE", path: "/admin/v1/keys/:id", auth: "admin" },
  { method: "GET", path: "/admin/v1/tenants", auth: "admin" },
  { method: "GET", path: "/admin/v1/costs", auth: "admin" },
  { method: "GET", path: "/admin/v1/costs/top-tenants", auth: "admin" },
  { method: "GET", path: "/admin/v1/rejections", auth: "admin" },
  // Probes
  { method: "GET", path: "/healthz", auth: "none" },
  { method: "GET", path: "/readyz", auth: "none" },
];
