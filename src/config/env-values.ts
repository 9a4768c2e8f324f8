/** true/1/yes or false/0/no (any case); `fallback` when unset or empty; undefined when neither. */
export function parseBoolean(text: string | undefined, fallback: boolean): boolean | undefined {
  const value = text?.trim().toLowerCase() ?? '';
  if (value === '') return fallback;
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  return undefined;
}
