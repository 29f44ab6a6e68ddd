// Pure: the planner lives in lib/plans/import-cluster.planner.ts (the API and the activities import it from there).
export * from '../../lib/plans/import-cluster.planner';
