// zh-CN (default) and English; dates and times always in the configured display time zone.
import { $$ } from "./dom.js";
import { MESSAGES } from "./messages.js";

const listeners = [];
let language = "zh-CN";
const zone = document.body.dataset.timezone || "Asia/Shanghai";

export function initLanguage() {
  const saved = localStorage.getItem("fieldline.lang");
  language = MESSAGES[saved] ? saved : MESSAGES[document.body.dataset.language] ? document.body.dataset.language : "zh-CN";
  applyStatic();
}

export const currentLanguage = () => language;

export function setLanguage(lang) {
  if (!MESSAGES[lang] || lang === language) return;
  language = lang;
  localStorage.setItem("fieldline.lang", lang);
  applyStatic();
  for (const fn of listeners) fn(lang);
}

export function onLanguage(fn) {
  listeners.push(fn);
}

export function t(key, params = {}) {
  const text = MESSAGES[language][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (params[name] ?? `{${name}}`).toString());
}

// A label for an enum value (status, role, specialty ...), falling back to the raw value.
export function label(group, value) {
  if (value === null || value === undefined) return "—";
  const key = `${group}.${value}`;
  const text = MESSAGES[language][key] ?? MESSAGES.en[key];
  return text ?? String(value);
}

function applyStatic() {
  document.documentElement.lang = language;
  for (const el of $$("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  const select = document.getElementById("lang-select");
  if (select) select.value = language;
}

const formats = {};
function formatter(kind) {
  const key = `${language}:${kind}`;
  if (!formats[key]) {
    const options = {
      time: { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" },
      datetime: { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" },
      date: { year: "numeric", month: "2-digit", day: "2-digit" },
    }[kind];
    formats[key] = new Intl.DateTimeFormat(language, { ...options, timeZone: zone });
  }
  return formats[key];
}

export function fmtTime(value, kind = "datetime") {
  if (!value) return "—";
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? "—" : formatter(kind).format(date);
}

// Today's date (YYYY-MM-DD) in the display zone, for report parameters.
export function zoneDate(date = new Date()) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(date);
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const sign = seconds < 0 ? "-" : "";
  let s = Math.abs(Math.round(seconds));
  const hours = Math.floor(s / 3600);
  s -= hours * 3600;
  const minutes = Math.floor(s / 60);
  s -= minutes * 60;
  const pad = (n) => String(n).padStart(2, "0");
  return hours ? `${sign}${hours}:${pad(minutes)}:${pad(s)}` : `${sign}${minutes}:${pad(s)}`;
}

export function fmtAge(iso, now = Date.now()) {
  if (!iso) return "—";
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (seconds < 90) return t("age.seconds", { n: Math.round(seconds) });
  if (seconds < 5400) return t("age.minutes", { n: Math.round(seconds / 60) });
  if (seconds < 129600) return t("age.hours", { n: Math.round(seconds / 3600) });
  return t("age.days", { n: Math.round(seconds / 86400) });
}

export function fmtKm(metres) {
  if (metres === null || metres === undefined) return "—";
  return metres < 1000 ? `${Math.round(metres)} m` : `${(metres / 1000).toFixed(1)} km`;
}

// Midnight of a display-zone day as an aware timestamp (the zone's offset on that day).
export function zoneMidnight(day) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" }).formatToParts(new Date(`${day}T12:00:00Z`));
  const name = parts.find((p) => p.type === "timeZoneName")?.value || "GMT";
  return `${day}T00:00:00${name === "GMT" ? "+00:00" : name.replace("GMT", "")}`;
}
