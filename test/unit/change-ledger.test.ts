import { describe, expect, it } from 'vitest';
import { operationWorkflowIdOf } from '../../activities/change-ledger';
import { upgradeHostWorkflowId, workflowIdFor } from '../../workflows/contracts';

describe('the change ledger finds the operation of the workflow an activity runs in', () => {
  it("maps an upgrade's host child to its parent's workflow id, built by the same builders the workflows use", () => {
    const parent = workflowIdFor('cluster.upgrade', 'clus_01ABC', 'op_01XYZ');
    expect(operationWorkflowIdOf(upgradeHostWorkflowId('clus_01ABC', 'op_01XYZ', 'storage-07'))).toBe(parent);
    expect(operationWorkflowIdOf(upgradeHostWorkflowId('clus_01ABC', 'op_01XYZ', 'rack1-host.example'))).toBe(parent);
  });

  it('leaves every operation workflow id as it is', () => {
    for (const id of [
      workflowIdFor('node.reboot', 'node_01A', 'op_01B'),
      workflowIdFor('cluster.upgrade', 'clus_01A', 'op_01B'),
      workflowIdFor('osd.reweight', 'clus_01A', 'op_01B'),
      workflowIdFor('cluster.create', 'clus_01A', 'op_01B'),
    ]) {
      expect(operationWorkflowIdOf(id)).toBe(id);
    }
  });
});
