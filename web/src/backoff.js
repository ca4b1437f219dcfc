// Exponential back-off with jitter for reconnecting. The random source is
// injected so tests are deterministic.

export class Backoff {
  /**
   * base: first delay in ms; max: cap in ms; factor: growth per attempt.
   * Delays use "equal jitter": half the exponential step plus a random
   * share of the other half, so clients that dropped together spread out
   * but never retry sooner than half the step.
   */
  constructor({ base = 1000, max = 30000, factor = 2, random = Math.random } = {}) {
    this.base = base;
    this.max = max;
    this.factor = factor;
    this.random = random;
    this.attempt = 0;
  }

  /** The step (without jitter) for the current attempt. */
  step() {
    return Math.min(this.max, this.base * Math.pow(this.factor, this.attempt));
  }

  /** Returns the next delay in ms and advances. */
  next() {
    const d = this.step();
    this.attempt = Math.min(this.attempt + 1, 64);
    return Math.round(d / 2 + this.random() * (d / 2));
  }

  reset() {
    this.attempt = 0;
  }
}
