import { sql, type Kysely } from 'kysely';

// Frozen once landed. Issue 14 (reboot acceptance): starting an operation took a transaction of
// several round trips (scope check, operation row, cluster row locks, resource locks, nesting
// check, precheck, names, Idempotency-Key binding), each one a wait on a pooled connection under
// load. nf_start_operation does the same steps in the same order in ONE statement (autocommit: the
// row and its locks are committed when it returns, before the workflow starts), for starts whose
// precheck was judged on rows the API read before (api/services/operations.service.ts,
// `readPrecheck`): it locks those rows FOR UPDATE, as the precheck did, and goes on only while each
// is still the version (xmin) the API judged.
//
// Input (jsonb), built by startInOneStatement:
//   op            the operation row: id, account_id, environment, type, cluster_id, node_id,
//                 osd_id, request_id, workflow_id, params
//   scope_node_ids, scope_cluster_ids   ids that must not belong to another account/environment
//   lock_cluster_ids   cluster rows locked FOR UPDATE (in id order) before the locks are taken
//   sorted_lock_ids    the resource locks, in the order they are inserted (no deadlocks)
//   lock_ids           the resource locks in request order (the nesting check's order)
//   guard_node_ids, guard_versions   rows the precheck read, and the xmin it read each at
//   refused            the precheck refused (answered after the lock checks, as before)
//   name_cluster_id, name_node_ids   what the workflow's summary names
//   claim              the request's Idempotency-Key claim (account_id, key, claim_id) or null
//
// Output: {"ok": true, "cluster": {id, name} | null, "hosts": [{id, hostname}]} when committed, or
// {"ok": false, "reason": …} when nothing was written (reasons: node_not_found, cluster_not_found
// (with id), busy (resource_id, operation_id[, why]), busy_unnamed, stale, refused,
// idempotency_taken). The refusals roll back the statement's writes (a subtransaction), so a
// refusal leaves nothing behind and is not a PostgreSQL error.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function nf_start_operation(p jsonb) returns jsonb language plpgsql as $fn$
    declare
      op jsonb := p->'op';
      op_id text := p->'op'->>'id';
      acct text := p->'op'->>'account_id';
      env text := p->'op'->>'environment';
      missing text[] := array(select jsonb_array_elements_text(p->'sorted_lock_ids'));
      lid text;
      cid text;
      hit record;
      v text;
      i int;
      names_cluster jsonb;
      hosts jsonb;
    begin
      begin
        select id into hit from nodes
          where id in (select jsonb_array_elements_text(p->'scope_node_ids'))
            and (account_id <> acct or environment <> env)
          order by id limit 1;
        if found then
          raise exception using errcode = 'NF409', message = 'nf_start',
            detail = jsonb_build_object('ok', false, 'reason', 'node_not_found', 'id', hit.id)::text;
        end if;
        select id into hit from clusters
          where id in (select jsonb_array_elements_text(p->'scope_cluster_ids'))
            and (account_id <> acct or environment <> env)
          order by id limit 1;
        if found then
          raise exception using errcode = 'NF409', message = 'nf_start',
            detail = jsonb_build_object('ok', false, 'reason', 'cluster_not_found', 'id', hit.id)::text;
        end if;

        insert into operations (id, account_id, environment, type, status, cluster_id, node_id, osd_id,
                                request_id, workflow_id, params)
        values (op_id, acct, env, op->>'type', 'pending', op->>'cluster_id', op->>'node_id',
                (op->>'osd_id')::integer, op->>'request_id', op->>'workflow_id', op->'params');

        perform 1 from clusters
          where id in (select jsonb_array_elements_text(p->'lock_cluster_ids'))
          order by id for update;

        -- The resource locks: taken in the given order; a lock whose holder released it between
        -- the insert and the holder's read is taken again (twice at most), as the TypeScript path does.
        for i in 0..2 loop
          with got as (
            insert into operation_locks (resource_id, operation_id)
            select m.id, op_id from unnest(missing) with ordinality m(id, ord) order by m.ord
            on conflict (resource_id) do nothing
            returning resource_id
          )
          select coalesce(array_agg(m.id order by m.ord), '{}') into missing
            from unnest(missing) with ordinality m(id, ord)
            where m.id not in (select resource_id from got);
          exit when cardinality(missing) = 0;
          select resource_id, operation_id into hit from operation_locks
            where resource_id = any(missing) order by resource_id limit 1;
          if found then
            raise exception using errcode = 'NF409', message = 'nf_start',
              detail = jsonb_build_object('ok', false, 'reason', 'busy',
                'resource_id', hit.resource_id, 'operation_id', hit.operation_id)::text;
          end if;
          if i >= 2 then
            raise exception using errcode = 'NF409', message = 'nf_start',
              detail = jsonb_build_object('ok', false, 'reason', 'busy_unnamed')::text;
          end if;
        end loop;

        -- Nesting: the cluster over a part we lock, or a part under a cluster we lock.
        foreach lid in array array(select jsonb_array_elements_text(p->'lock_ids')) loop
          cid := substring(lid from '^clus_[^/]+');
          continue when cid is null;
          if lid = cid then
            select resource_id, operation_id into hit from operation_locks
              where operation_id <> op_id and starts_with(resource_id, cid || '/')
              order by created_at limit 1;
          else
            select resource_id, operation_id into hit from operation_locks
              where operation_id <> op_id and resource_id = cid;
          end if;
          if found then
            raise exception using errcode = 'NF409', message = 'nf_start',
              detail = jsonb_build_object('ok', false, 'reason', 'busy',
                'resource_id', hit.resource_id, 'operation_id', hit.operation_id)::text;
          end if;
        end loop;

        -- The precheck's rows, locked as it locked them, must be the versions it judged.
        for i in 0..coalesce(jsonb_array_length(p->'guard_node_ids'), 0) - 1 loop
          select xmin::text into v from nodes where id = p->'guard_node_ids'->>i for update;
          if not found or v is distinct from p->'guard_versions'->>i then
            raise exception using errcode = 'NF409', message = 'nf_start',
              detail = jsonb_build_object('ok', false, 'reason', 'stale')::text;
          end if;
        end loop;
        if coalesce((p->>'refused')::boolean, false) then
          raise exception using errcode = 'NF409', message = 'nf_start',
            detail = jsonb_build_object('ok', false, 'reason', 'refused')::text;
        end if;

        if p->>'name_cluster_id' is not null then
          select jsonb_build_object('id', id, 'name', name) into names_cluster from clusters
            where id = p->>'name_cluster_id' and account_id = acct;
        end if;
        select coalesce(jsonb_agg(jsonb_build_object('id', n.id, 'hostname', n.hostname) order by o.ord), '[]')
          into hosts
          from jsonb_array_elements_text(coalesce(p->'name_node_ids', '[]')) with ordinality o(id, ord)
          join nodes n on n.id = o.id and n.account_id = acct;

        -- The request's Idempotency-Key now names this operation (same commit as the row).
        if jsonb_typeof(p->'claim') = 'object' then
          update idempotency_keys set operation_id = op_id
            where account_id = p->'claim'->>'account_id' and key = p->'claim'->>'key'
              and claim_id = p->'claim'->>'claim_id' and state = 'in_progress' and operation_id is null;
          if not found then
            raise exception using errcode = 'NF409', message = 'nf_start',
              detail = jsonb_build_object('ok', false, 'reason', 'idempotency_taken')::text;
          end if;
        end if;
      exception when sqlstate 'NF409' then
        get stacked diagnostics v = pg_exception_detail;
        return v::jsonb;
      end;
      return jsonb_build_object('ok', true, 'cluster', names_cluster, 'hosts', hosts);
    end $fn$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists nf_start_operation(jsonb)`.execute(db);
}
