/**
 * The import direction (docs/architecture.md, "Layers"), checked by `npm run lint`:
 *
 *   lib ← db ← drivers ← workflows/contracts.ts ← activities ← workflows (activities as types only) ← api, worker ← scripts
 *
 * workflows/registry.ts (the operation registry) imports nothing and sits beside contracts.ts, which
 * takes OperationType from it; the API loads it, and its derived types (registry.types.ts) as types only.
 *
 * A module imports only from its own layer or the ones to its left, and nothing imports in a cycle.
 * lib/failures.ts, lib/ceph-releases.ts and lib/plans/ are pure (no Node, no Temporal, no npm
 * package): workflow code may import them, so they import nothing but each other.
 */
const upward = (name, from, to, comment) => ({
  name,
  severity: 'error',
  comment,
  from: { path: from },
  to: { path: to },
});

const PURE = '^lib/(failures|ceph-releases)[.]ts$|^lib/plans/';
const CONTRACTS = '^workflows/contracts[.]ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment:
        'A cycle ties modules together so that none can be read, tested or moved alone; type-only imports count.',
      from: {},
      to: { circular: true },
    },
    upward(
      'lib-imports-nothing-above',
      '^lib/',
      '^(db|drivers|activities|workflows|api|worker|scripts|test|bench)/',
      'lib is the bottom layer.',
    ),
    {
      name: 'pure-modules-stay-pure',
      severity: 'error',
      comment:
        'The failure vocabulary, Ceph releases and the planners run inside workflow bundles: they import only each other.',
      from: { path: PURE },
      to: { pathNot: PURE },
    },
    upward(
      'db-imports-only-lib',
      '^db/',
      '^(drivers|activities|workflows|api|worker|scripts|test|bench)/',
      'The database layer knows only lib.',
    ),
    upward(
      'drivers-import-only-db-and-lib',
      '^drivers/',
      '^(activities|workflows|api|worker|scripts|test|bench)/',
      'Drivers know only db and lib: the failure vocabulary is lib/failures.ts.',
    ),
    upward(
      'contracts-import-only-lib',
      CONTRACTS,
      '^(db|drivers|activities|api|worker|scripts|test|bench)/|^workflows/(?!(contracts|registry)[.]ts$)',
      'workflows/contracts.ts is what the API, the worker and the activities share (names, inputs, messages): it sits below activities. It may import the registry (a leaf) for OperationType.',
    ),
    upward(
      'activities-import-no-workflow-code',
      '^activities/',
      `^(api|worker|scripts|test|bench)/|^workflows/(?!contracts[.]ts$)`,
      'Activities may share workflows/contracts.ts, nothing else of workflows/.',
    ),
    {
      name: 'workflows-import-activities-as-types-only',
      severity: 'error',
      comment:
        'Workflow code runs in the sandbox: activities are reached through proxyActivities<typeof …>, never by value.',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
    upward(
      'workflows-import-no-api-worker-scripts',
      '^workflows/',
      '^(api|worker|scripts|test|bench)/',
      'Workflows are below the API and the worker.',
    ),
    upward(
      'api-imports-workflows-contracts-only',
      '^api/',
      '^workflows/(?!((contracts|registry)[.]ts|registry[.]types[.]ts)$)',
      'The API starts workflows by name through workflows/contracts.ts and the registry and plans with lib/plans; workflow code (proxyActivities at load) is never in its process.',
    ),
    {
      name: 'api-imports-registry-types-as-types-only',
      severity: 'error',
      comment:
        "registry.types.ts derives each operation's input from workflows/index.ts: the API may use it only through `import type`, which is erased, so no workflow code is loaded.",
      from: { path: '^api/' },
      to: { path: '^workflows/registry[.]types[.]ts$', dependencyTypesNot: ['type-only'] },
    },
    upward(
      'api-imports-no-worker-or-scripts',
      '^api/',
      '^(worker|scripts|test|bench)/',
      'The API and the worker are separate processes.',
    ),
    upward(
      'worker-imports-no-api-or-scripts',
      '^worker/',
      '^(api|scripts|test|bench)/',
      'The API and the worker are separate processes.',
    ),
    upward('scripts-import-no-tests', '^scripts/', '^(test|bench)/', 'Tests import the code, never the other way.'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|[.]data|coverage|test/replay/histories)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
