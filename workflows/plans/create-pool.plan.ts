// Pure: the planner lives in lib/plans/create-pool.planner.ts (the API and the activities import it from there).
export * from '../../lib/plans/create-pool.planner';
