import type { FilterableMessage, SystemPropertyName } from './filterable-message.js';
import { parseSqlFilter, type SqlFilter } from './sql-filter.js';

/** The system properties a correlation filter can name, by their SQL filter names. */
export type CorrelationFields = Partial<Record<SystemPropertyName, string>>;

/** A subscription rule's filter: a parsed SQL expression or a correlation filter. */
export type RuleFilter =
  | { readonly kind: 'sql'; readonly sql: SqlFilter }
  | {
      readonly kind: 'correlation';
      readonly fields: CorrelationFields;
      readonly properties: Readonly<Record<string, string | number | boolean>>;
    };

/**
 * A subscription rule. Rule actions (which rewrite properties) are not implemented: a rule that
 * carries one is refused where it is created.
 */
export interface Rule {
  readonly name: string;
  readonly filter: RuleFilter;
  readonly createdAt: Date;
}

/** The rule every new subscription gets unless it is created with another default rule. */
export const defaultRuleName = '$Default';

/** A rule with a SQL filter; throws `SqlFilterError` when the expression is outside the subset. */
export function sqlRule(name: string, expression: string): Rule {
  return { name, filter: { kind: 'sql', sql: parseSqlFilter(expression) }, createdAt: new Date() };
}

/** A rule with a correlation filter: every named field and property must be equal. */
export function correlationRule(
  name: string,
  fields: CorrelationFields,
  properties: Readonly<Record<string, string | number | boolean>>,
): Rule {
  return { name, filter: { kind: 'correlation', fields, properties }, createdAt: new Date() };
}

/** Whether `message` passes `rule`'s filter. */
export function ruleMatches(rule: Rule, message: FilterableMessage): boolean {
  const filter = rule.filter;
  if (filter.kind === 'sql') return filter.sql.matches(message);
  for (const [name, expected] of Object.entries(filter.fields) as [SystemPropertyName, string][]) {
    if (message.system[name] !== expected) return false;
  }
  for (const [name, expected] of Object.entries(filter.properties)) {
    if (message.properties[name] !== expected) return false;
  }
  return true;
}
