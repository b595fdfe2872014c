// Escalations: the open alerts, and a flash, a beep (mutable) and a title badge for each new one.
import { post } from "./api.js";
import { $, clear, h } from "./dom.js";
import { fmtTime, label, onLanguage, t } from "./i18n.js";
import { can, emit, on, orderLabel, state } from "./store.js";
import { perform } from "./ui.js";

let muted = localStorage.getItem("fieldline.muted") === "1";
let audio = null;
let unseen = 0;
const baseTitle = () => t("app.title");

export function initAlerts() {
  const mute = $("#mute-button");
  mute.hidden = false;
  const paint = () => {
    mute.textContent = muted ? t("cue.unmute") : t("cue.mute");
    mute.setAttribute("aria-pressed", muted ? "true" : "false");
  };
  mute.onclick = () => {
    muted = !muted;
    localStorage.setItem("fieldline.muted", muted ? "1" : "0");
    paint();
  };
  paint();
  $("#alert-badge").onclick = () => {
    unseen = 0;
    badge();
    $("#alerts-title").scrollIntoView({ block: "start" });
  };
  // The first click anywhere unlocks audio (browsers refuse sound before a gesture).
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });
  window.addEventListener("focus", () => {
    unseen = 0;
    badge();
  });
  on("alerts", render);
  on("orders", render);
  // Archive reminders (file deadlines) are listed, but only an order's escalation rings.
  on("alert", (alert) => alert.tier !== "archive" && cue("escalation", t("cue.escalation", { n: alertLabel(alert), msg: alert.message })));
  on("breach", ({ order, clock }) => cue("breach", t("cue.breach", { n: order.number, seg: clock.segment?.name || "A→H" })));
  onLanguage(() => {
    paint();
    render();
  });
  render();
}

function unlockAudio() {
  try {
    audio ||= new AudioContext();
    audio.resume();
  } catch {
    audio = null;
  }
}

// Two short tones made on the spot: no sound file to download.
function beep() {
  if (muted) return false;
  unlockAudio();
  if (!audio) return false;
  const now = audio.currentTime;
  [880, 660].forEach((freq, i) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, now + i * 0.22);
    gain.gain.exponentialRampToValueAtTime(0.3, now + i * 0.22 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.22 + 0.2);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + i * 0.22);
    osc.stop(now + i * 0.22 + 0.21);
  });
  return true;
}

function badge() {
  const el = $("#alert-badge");
  el.hidden = unseen === 0;
  el.textContent = t("cue.badge", { n: unseen });
  document.title = unseen ? `(${unseen}) ${baseTitle()}` : baseTitle();
}

// A new escalation or breach: flash, sound, title badge and an entry in the event log.
export function cue(kind, message) {
  unseen += 1;
  badge();
  const sounded = beep();
  document.body.dataset.cues = String(Number(document.body.dataset.cues || 0) + 1);
  document.body.dataset.lastCue = kind;
  document.body.dataset.sounded = String(Number(document.body.dataset.sounded || 0) + (sounded ? 1 : 0));
  document.body.classList.remove("flash");
  void document.body.offsetWidth; // restart the animation
  document.body.classList.add("flash");
  setTimeout(() => document.body.classList.remove("flash"), 3000);
  emit("log", { kind, text: message });
}

// Archive reminders (tier "archive") concern a customer file, not an order.
const alertLabel = (alert) => (alert.order_id ? orderLabel(alert.order_id) : "archive");

// An alert whose cause is gone (the order was accepted, or re-dispatched) closes itself.
function causeGone(alert) {
  const order = state.orders.get(alert.order_id);
  if (!order) return false;
  if (alert.tier === "repair_center") return order.status !== "at_repair_center";
  return order.dispatch_round > alert.dispatch_round || !["dispatched", "delivered"].includes(order.status);
}

// Alerts still waiting for someone: not acknowledged and their cause still there.
export const openAlerts = () => [...state.alerts.values()].filter((a) => !a.acknowledged_at && !causeGone(a));

function render() {
  const list = $("#alerts-list");
  if (!can("alert.read")) {
    clear(list, h("li", { class: "note", text: t("alerts.notForRole") }));
    return;
  }
  const open = openAlerts().sort((a, b) => b.id - a.id);
  $("#alerts-count").textContent = String(open.length);
  if (!open.length) {
    clear(list, h("li", { class: "note", text: t("alerts.none") }));
    return;
  }
  clear(
    list,
    open.map((alert) => {
      const ack = h("button", { type: "button", text: t("alerts.ack") });
      ack.onclick = () =>
        perform(ack, async () => {
          const updated = await post(`/alerts/${alert.id}/acknowledge`);
          state.alerts.set(updated.id, updated);
          emit("alerts");
        }, t("alerts.acked"));
      return h(
        "li",
        { class: `alert alert-${alert.tier}`, dataset: { id: alert.id, order: alert.order_id } },
        h("button", { type: "button", class: "link", text: alertLabel(alert), onclick: () => alert.order_id && emit("select", alert.order_id) }),
        h("span", { class: "tag", text: `${label("tier", alert.tier)} · ${t("alerts.stage", { n: alert.stage })}` }),
        h("p", { text: alert.message }),
        h("small", { text: `${fmtTime(alert.created_at)} · ${(alert.phones || []).join(", ")}` }),
        can("alert.acknowledge") ? ack : null,
      );
    }),
  );
}
