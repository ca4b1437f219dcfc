// Chart series helpers: gaps for outages, counting drawn values. Pure logic.

/** Whether a reading at x (seconds) comes after an outage: a gap over 3 intervals and 15 s. */
export function gapBefore(xs, x) {
  const n = xs.length;
  if (n < 2) return n === 1 && x - xs[0] > 60;
  const step = xs[n - 1] - xs[n - 2];
  return x - xs[n - 1] > Math.max(15, 3 * step);
}

export function countValues(ys, i0, i1) {
  let c = 0;
  for (let i = i0; i <= i1 && c < 3; i++) if (ys[i] !== null && ys[i] !== undefined) c++;
  return c;
}


/**
 * The x range of a time chart: at least a minute, ending at the last
 * point. uPlot widens a single point's range to a whole day (ticks all
 * "00:00"); this keeps it the last minute.
 */
export function timeRange(u, min, max) {
  const xs = u.data[0];
  const hi = xs.length === 1 ? xs[0] : max;
  return [Math.min(min, hi - 60), hi];
}

/**
 * The y range of a chart: uPlot's padded range (rangeNum), except that a
 * single value (or a flat line) gets a band around it, so its own value
 * is labelled on the axis.
 */
export function valueRange(rangeNum) {
  return (u, min, max) => {
    if (min === null || max === null) return [0, 1];
    if (min === max) {
      const pad = Math.max(1, Math.abs(min) * 0.1);
      return [min - pad, max + pad];
    }
    return rangeNum(min, max, 0.1, true);
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const pad = (n) => String(n).padStart(2, '0');

/** A time axis label: 14:05:30 under a minute apart, 14:05, or 2 Dec from a day apart. */
export function timeLabel(sec, incr) {
  const d = new Date(sec * 1000);
  if (incr >= 86400) return `${d.getDate()} ${MONTHS[d.getMonth()]}`;
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return incr < 60 ? `${hm}:${pad(d.getSeconds())}` : hm;
}
