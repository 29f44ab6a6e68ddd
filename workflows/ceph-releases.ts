// Ceph releases and version arithmetic live in lib/ceph-releases.ts (pure, shared by drivers,
// activities and the API); workflow code keeps importing them from here.
export * from '../lib/ceph-releases';
