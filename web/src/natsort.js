// Natural order for topic levels: "dev2" before "dev10", case folded,
// "$" levels ($SYS) after the others.

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Compares two topic level names in natural order. */
export function naturalCompare(a, b) {
  const ad = a.startsWith('$');
  const bd = b.startsWith('$');
  if (ad !== bd) return ad ? 1 : -1;
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}
