// Placeholder seam for the call-record flow (issue 3); replaced by the real recorder.
import type { SrfInstance } from '../drachtio.js';

export interface CallRecorder {
  /** Subscribes to cdr:attempt/start/stop; must run before drachtio is connected. */
  subscribe(srf: SrfInstance): void;
  /** Starts background work (batch writer, partition upkeep). */
  start(): void;
  /** Writes every pending row now (shutdown). */
  flush(): Promise<void>;
  /** Stops background work; pending rows stay spooled. */
  close(): Promise<void>;
  /** Refreshes the spool depth and in-flight gauges. */
  refreshGauges(): Promise<void>;
}
