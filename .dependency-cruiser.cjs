// Layering of Loraplex, checked by `make test` (npx depcruise, config here).
// Components sit on top and never import each other; everything else that is not a component,
// a test, a benchmark, a script or the composition root (bin/) is a shared package below them,
// so a new shared package (e.g. retrieval/) needs no edit here.
const components = "(router|controller|trainer|agent|engine-sim|cli)";
const entryPoints = "^(bin|test|bench|scripts)/";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "component-imports-component",
      comment: "Components import only shared packages; move shared code into a package below them.",
      severity: "error",
      from: { path: `^${components}/` },
      to: { path: `^${components}/`, pathNot: "^$1/" },
    },
    {
      name: "shared-imports-component",
      comment: "Shared packages sit below the components and must not reach up into one.",
      severity: "error",
      from: { pathNot: [`^${components}/`, entryPoints] },
      to: { path: `^${components}/` },
    },
    {
      name: "shared-imports-tests",
      comment: "Production code never imports test harnesses or benchmarks.",
      severity: "error",
      from: { pathNot: [entryPoints, "\\.test\\.ts$"] },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "no-import-cycle",
      comment: "A file-level import cycle (type-only imports included) couples modules that should layer.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|\\.tools|\\.loraplex|test/cluster|charts|third_party)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    moduleSystems: ["es6", "cjs"],
  },
};
