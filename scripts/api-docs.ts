/**
 * `npm run docs:api`: writes the request field tables of docs/identification-api.md and
 * docs/admin-api.md from the API's zod schemas (functions/src/api/schemas.ts), between
 * `<!-- api-fields:start -->` and `<!-- api-fields:end -->`. A unit test fails when the docs
 * and the schemas disagree, so the documented rules are the enforced ones.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as prettier from 'prettier';
import { z } from 'zod/v4';
import { callableInputs } from '../functions/src/api/schemas.js';
import { REPO_ROOT } from './emulators/stack.js';

type JsonSchema = {
  type?: string;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
};

export const APP_CALLABLES = [
  'identifyFootprint',
  'listObservations',
  'getObservation',
  'deleteObservation',
  'setObservationFeedback',
  'setObservationShare',
  'refineObservation',
  'addObservationPhoto',
  'listSpecies',
  'getSpecies',
  'getOfflineBundle',
  'syncOfflineObservations',
];
export const ADMIN_CALLABLES = [
  'createUploadUrls',
  'relabelTrainingImage',
  'deleteTrainingImage',
  'startTrainingRun',
  'promoteModel',
  'rollbackModel',
  'getTrainingBacklog',
  'acceptReviewCandidate',
  'rejectReviewCandidate',
  'exportOfflineBundle',
  'tryModel',
];

const number = (n: number) => (Math.abs(n) >= 1e15 ? '2⁵³' : n.toLocaleString('fr-FR'));

function rule(schema: JsonSchema): string {
  const parts: string[] = [];
  if (schema.description) parts.push(schema.description);
  if (schema.minimum !== undefined && schema.maximum !== undefined) {
    parts.push(`de ${number(schema.minimum)} à ${number(schema.maximum)}`);
  } else if (schema.minimum !== undefined) parts.push(`≥ ${number(schema.minimum)}`);
  else if (schema.maximum !== undefined) parts.push(`≤ ${number(schema.maximum)}`);
  if (schema.minLength !== undefined) parts.push(`au moins ${schema.minLength} caractère(s)`);
  if (schema.maxLength !== undefined) parts.push(`au plus ${schema.maxLength} caractères`);
  if (schema.minItems !== undefined || schema.maxItems !== undefined) {
    parts.push(`${schema.minItems ?? 0} à ${schema.maxItems ?? '∞'} éléments`);
  }
  if (schema.pattern) parts.push(`motif \`${schema.pattern}\``);
  return parts.join(' ; ');
}

/** A field's type: a union's member types (number or string, for a measurement or « unknown »). */
function typeName(schema: JsonSchema): string {
  if (schema.type) return schema.type;
  const members = [...new Set((schema.anyOf ?? []).map(typeName))];
  return members.length ? members.join(' \\| ') : 'valeur';
}

/** One row per field (nested objects and arrays of objects flattened with dotted paths). */
function rows(schema: JsonSchema, prefix = ''): string[] {
  const out: string[] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, raw] of Object.entries(schema.properties ?? {})) {
    const nullable = raw.anyOf?.some((s) => s.type === 'null') ?? false;
    const field = raw.anyOf?.find((s) => s.type !== 'null') ?? raw;
    const described = { ...field, description: raw.description ?? field.description };
    const type = `${typeName(field)}${nullable ? ' \\| null' : ''}`;
    const path = `${prefix}${name}`;
    out.push(
      `| \`${path}\` | ${type} | ${required.has(name) ? 'oui' : 'non'} | ${rule(described) || '—'} |`,
    );
    if (field.type === 'object') out.push(...rows(field, `${path}.`));
    if (field.type === 'array' && field.items?.type === 'object') {
      out.push(...rows(field.items, `${path}[].`));
    }
  }
  return out;
}

export function fieldTables(names: string[]): string {
  const inputs = callableInputs();
  return names
    .map((name) => {
      const schema = inputs[name];
      if (!schema) throw new Error(`no input schema for ${name}`);
      const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
      const object = json.anyOf?.find((s) => s.type === 'object') ?? json;
      const optional = json.anyOf?.some((s) => s.type === 'null') ?? false;
      const body = rows(object);
      const header = `**\`${name}\`**${optional ? ' (paramètre facultatif : `null` ou `{}` acceptés)' : ''}`;
      if (!body.length) return `${header} : aucun champ.`;
      return [
        header,
        '',
        '| Champ | Type | Obligatoire | Règle |',
        '| ----- | ---- | ----------- | ----- |',
        ...body,
      ].join('\n');
    })
    .join('\n\n');
}

const START = '<!-- api-fields:start -->';
const END = '<!-- api-fields:end -->';

export const GENERATED_DOCS: { file: string; names: string[] }[] = [
  { file: 'docs/identification-api.md', names: APP_CALLABLES },
  { file: 'docs/admin-api.md', names: ADMIN_CALLABLES },
];

/**
 * The document with its generated section replaced by the schemas' current tables, formatted
 * by Prettier as `npm test`'s lint step expects.
 */
export async function withFieldTables(doc: string, names: string[], file: string): Promise<string> {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`markers ${START} … ${END} missing`);
  const generated = [
    START,
    '<!-- Généré depuis functions/src/api/schemas.ts par `npm run docs:api` : ne pas modifier à la main. -->',
    '',
    fieldTables(names),
    '',
    END,
  ].join('\n');
  const text = doc.slice(0, start) + generated + doc.slice(end + END.length);
  const options = await prettier.resolveConfig(file);
  return prettier.format(text, { ...options, filepath: file });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const { file, names } of GENERATED_DOCS) {
    const path = `${REPO_ROOT}${file}`;
    writeFileSync(path, await withFieldTables(readFileSync(path, 'utf8'), names, path));
    console.log(`${file} : tables des champs régénérées.`);
  }
}
