// Per-topic message rates, true at any speed: counts per second over a
// sliding window, no cap on messages, constant memory per topic.

/**
 * RateMeter counts messages in one-second buckets over windowMs. rate()
 * is null until a topic has been seen twice: one message is not a rate.
 */
export class RateMeter {
  constructor(windowMs = 60000) {
    this.windowMs = windowMs;
    this.buckets = []; // {sec, n, first}, oldest first
    this.total = 0;
  }

  add(now) {
    this.total++;
    const sec = Math.floor(now / 1000);
    const last = this.buckets[this.buckets.length - 1];
    if (last && last.sec === sec) last.n++;
    else this.buckets.push({ sec, n: 1, first: now });
    this.prune(now);
  }

  prune(now) {
    const from = now - this.windowMs;
    let i = 0;
    while (i < this.buckets.length && (this.buckets[i].sec + 1) * 1000 <= from) i++;
    if (i) this.buckets.splice(0, i);
  }

  /**
   * Messages per second: (n - 1) / (now - first) for the n messages in
   * the window, so a steady stream reads its true rate and a topic that
   * went quiet decays to 0. null for a topic seen fewer than twice.
   */
  rate(now) {
    if (this.total < 2) return null;
    this.prune(now);
    let n = 0;
    for (const b of this.buckets) n += b.n;
    if (n < 2) return 0;
    const span = Math.max(1000, now - this.buckets[0].first);
    return ((n - 1) * 1000) / span;
  }
}

/** "200/s", "1.5/s", "3/min", or '' for no rate. */
export function formatRate(r) {
  if (r === null || r === undefined || !(r > 0)) return '';
  if (r >= 10) return `${Math.round(r)}/s`;
  if (r >= 0.1) return `${r.toFixed(1)}/s`;
  const m = r * 60;
  return m >= 1 ? `${Math.round(m)}/min` : '<1/min';
}
