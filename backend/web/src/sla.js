// Live SLA arithmetic on the client: the running segment and the A->H total tick every second.
import { state } from "./store.js";

export function colorOf(percent) {
  if (percent === null || percent === undefined) return "none";
  if (percent < 50) return "green";
  if (percent < 75) return "yellow";
  if (percent <= 100) return "orange";
  return "red";
}

function live(segment, now) {
  if (!segment) return null;
  if (segment.status === "running" && segment.started_at) {
    const elapsed = (now - new Date(segment.started_at).getTime()) / 1000;
    const percent = (elapsed / segment.limit_s) * 100;
    return { name: segment.segment, elapsed, remaining: segment.limit_s - elapsed, percent, running: true, color: colorOf(percent) };
  }
  if (segment.status === "done") {
    return { name: segment.segment, elapsed: segment.duration_s, remaining: null, percent: segment.percent_used, running: false, color: segment.color || colorOf(segment.percent_used) };
  }
  return null;
}

// What the board shows for an order now: running segment, total, urgency (0..), breached.
export function clockOf(order, now = Date.now()) {
  const timeline = state.timelines.get(order.id)?.data;
  if (!timeline) return { segment: null, total: null, urgency: -1, breached: false, color: "none" };
  const segment = live(timeline.segments.find((s) => s.status === "running"), now);
  const total = live(timeline.total, now);
  const urgency = Math.max(segment?.running ? segment.percent : -1, total?.running ? total.percent : -1);
  const breached = Boolean((segment?.running && segment.percent > 100) || (total?.running && total.percent > 100));
  return { segment, total, urgency, breached, color: colorOf(urgency < 0 ? null : urgency) };
}
