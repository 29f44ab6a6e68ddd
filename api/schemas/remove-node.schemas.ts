import { idPattern } from '../../lib/ids';
import { dataResponseSchema } from './common.schemas';

/** 202 of DELETE /v1/clusters/{id}/nodes/{node_id}. */
export const removeNodeAcceptedResponseSchema = dataResponseSchema({
  type: 'object',
  required: ['operation_id', 'cluster_id', 'node_id', 'status'],
  properties: {
    operation_id: { type: 'string', pattern: idPattern('operation') },
    cluster_id: { type: 'string', pattern: idPattern('cluster') },
    node_id: { type: 'string', pattern: idPattern('node') },
    status: { type: 'string', enum: ['pending'] },
  },
});
