// What a table module runs its statements on: the pool, or one connection of it (a transaction,
// a named lock).
import type { Connection } from 'mysql2/promise';

export type Db = Pick<Connection, 'query' | 'execute'>;
