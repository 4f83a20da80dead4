import type { BatchLine } from '../requests/targets.ts';
import type { Row } from '../sources/row.ts';

/** What flows between buildRequests and validateRequests: the line and the row it came from. */
export interface RequestItem {
  readonly line: BatchLine;
  readonly row: Row;
}

/** What validateRequests emits: the checked line, encoded once. */
export interface EncodedLine {
  readonly customId: string;
  /** The JSON text without the newline. */
  readonly json: string;
  readonly bytes: number;
  readonly row: number;
}
