import type { JSONSchemaType } from 'ajv';
import { LISTED_EVENT_TYPES } from '../../db/repositories/events.repository';
import { idPattern } from '../../lib/ids';
import {
  allRequired,
  nullableString,
  pageProperties,
  timestamp,
  type PageQuery,
  type SchemaObject,
} from './common.schemas';

export interface EventListQuery extends PageQuery {
  type?: (typeof LISTED_EVENT_TYPES)[number] | null;
  cluster_id?: string | null;
  node_id?: string | null;
  operation_id?: string | null;
}

export const eventListQuerySchema: JSONSchemaType<EventListQuery> = {
  type: 'object',
  properties: {
    ...pageProperties,
    type: { type: 'string', enum: [...LISTED_EVENT_TYPES], nullable: true },
    cluster_id: { type: 'string', pattern: idPattern('cluster'), nullable: true },
    node_id: { type: 'string', pattern: idPattern('node'), nullable: true },
    operation_id: { type: 'string', pattern: idPattern('operation'), nullable: true },
  },
  required: [],
  additionalProperties: false,
};

export const eventViewSchema: SchemaObject = allRequired({
  type: 'object',
  properties: {
    id: { type: 'string', pattern: idPattern('event') },
    type: { type: 'string', enum: [...LISTED_EVENT_TYPES] },
    sequence: {
      type: 'integer',
      minimum: 1,
      description:
        'Strictly increasing across all events: orders them, per resource too (a later change has a larger number).',
    },
    cluster_id: nullableString,
    node_id: nullableString,
    operation_id: nullableString,
    data: {
      type: 'object',
      description: 'Status changes: `from`, `to` (and `reason`); operations also `operation_type`, `error_code`.',
    },
    created_at: timestamp,
  },
});
