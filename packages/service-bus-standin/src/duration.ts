/**
 * ISO 8601 durations as Service Bus writes .NET TimeSpans in its ATOM documents (`PT1M`, `P14D`,
 * `PT0.5S`, `P10675199DT2H48M5.4775807S` for TimeSpan.MaxValue). Years and months are not TimeSpan
 * parts and are refused.
 */
const durationPattern = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** TimeSpan.MaxValue, the "never" Service Bus reports for TTLs and auto-delete. */
export const maxTimeSpan = 'P10675199DT2H48M5.4775807S';

/** Milliseconds in `text`, or `undefined` when it is not a day-time duration. */
export function parseDuration(text: string): number | undefined {
  const match = durationPattern.exec(text.trim());
  if (match === null || text.trim() === 'P' || text.trim().endsWith('T')) return undefined;
  const [, days, hours, minutes, seconds] = match;
  return (
    Number(days ?? 0) * 86_400_000 +
    Number(hours ?? 0) * 3_600_000 +
    Number(minutes ?? 0) * 60_000 +
    Math.round(Number(seconds ?? 0) * 1000)
  );
}
