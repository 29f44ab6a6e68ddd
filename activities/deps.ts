import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { Db } from '../db/database';
import type { DriverRegistry } from '../drivers/types';

/** What activities are built from (STYLE 5): one pool, one driver registry, injected by worker/main.ts. */
export interface ActivityDeps {
  db: Db;
  drivers: DriverRegistry;
  config: Config;
  logger: Logger;
}
