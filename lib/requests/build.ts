import type { ArkBatchError } from '../errors.ts';
import { binaryOf, type Row } from '../sources/row.ts';
import { bindIdRule, type IdMaker, type IdRule } from './custom-id.ts';
import { makeBatchLine, OPENAI_CHAT_URL, type BatchLine, type LineShapeOptions } from './targets.ts';
import { compileTemplate, type RowRenderer, type TemplateOptions } from './template.ts';

export interface BuildOptions extends TemplateOptions, LineShapeOptions {
  /** custom_id rule. @default row-<n> */
  readonly id?: IdRule;
  /** Source name for error messages. */
  readonly file?: string;
}

export type BuildResult =
  | { readonly ok: true; readonly line: BatchLine }
  | { readonly ok: false; readonly skip: boolean; readonly error: ArkBatchError };

/**
 * The line shape in the rows' representation: binary rows (CSV fast path) need the model and
 * url as latin1 binary strings too, or their non-ASCII text would be mangled on output.
 */
export function shapeFor(options: LineShapeOptions, binary: boolean | undefined): LineShapeOptions {
  if (!binary || options.target !== 'openai') return options;
  return {
    target: options.target,
    url: binaryOf(options.url ?? OPENAI_CHAT_URL),
    model: options.model === undefined ? undefined : binaryOf(options.model),
  };
}

/**
 * Row → batch line. The template is compiled at once (so a bad template fails before any
 * input is read) and bound to the first row (so a placeholder naming no column fails before
 * the first line is written).
 */
export function createRequestBuilder(options: BuildOptions): (row: Row) => BuildResult {
  const template = compileTemplate(options);
  let render: RowRenderer | undefined;
  let makeId: IdMaker | undefined;
  let shape: LineShapeOptions = options;
  return (row) => {
    if (row.error) return { ok: false, skip: false, error: row.error };
    if (!render) {
      render = template.bind(row, options.file);
      makeId = bindIdRule(options.id ?? {}, row, options.file);
      shape = shapeFor(options, row.binary);
    }
    const id = makeId!(row);
    if (typeof id !== 'string') return { ok: false, skip: false, error: id };
    const r = render(row);
    if (!r.ok) return r;
    return { ok: true, line: makeBatchLine(id, r.body, shape) };
  };
}
