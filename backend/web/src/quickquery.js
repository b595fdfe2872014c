// "Is my line out?": the call center's quick query (account number, phone, name or address).
// One call to GET /quick-query answers per matching customer: out now or not, since and until
// when, why, announced outages and the region's service contact.
import { get, offers } from "./api.js";
import { $, clear, h } from "./dom.js";
import { fmtTime, label, onLanguage, t } from "./i18n.js";
import { can, emit } from "./store.js";
import { failed, loading } from "./ui.js";

let last = null; // the last answer, redrawn when the language changes

export function initQuickQuery() {
  const panel = $("#quick-panel");
  if (!can("network.quick_query") || !offers("get", "/quick-query")) return;
  panel.hidden = false;
  const placeholder = () => ($("#quick-q").placeholder = t("quick.placeholder"));
  placeholder();
  $("#quick-form").addEventListener("submit", ask);
  onLanguage(() => {
    placeholder();
    if (last) show(last);
  });
}

async function ask(event) {
  event.preventDefault();
  const q = $("#quick-q").value.trim();
  if (!q) return;
  const out = $("#quick-result");
  const button = event.target.querySelector("button[type=submit]");
  button.disabled = true;
  loading(out);
  try {
    last = await get("/quick-query", { q });
    show(last);
    emit("outages-changed");
  } catch (error) {
    last = null;
    failed(out, error);
  } finally {
    button.disabled = false;
  }
}

const row = (key, value) => [h("dt", { text: t(key) }), h("dd", { text: value ?? "—" })];

function outageRows(outage) {
  return [
    row("quick.outage", `${outage.number} · ${label("outageKind", outage.kind)} · ${label("outageStatus", outage.status)}`),
    row("quick.reason", outage.reason),
    row("quick.since", fmtTime(outage.starts_at)),
    row("quick.until", fmtTime(outage.planned_end_at)),
  ];
}

function match(m) {
  const c = m.customer;
  const flags = [m.important && t("quick.important"), m.high_risk && t("quick.highRisk")].filter(Boolean);
  const verdict = h("p", { class: "quick-verdict", dataset: { out: m.out_now ? "yes" : "no" }, text: m.out_now ? t("quick.out") : t("quick.notOut") });
  const places = m.places.map((p) => h("li", { text: [p.address, p.line?.name ?? p.line_name, p.area?.name].filter(Boolean).join(" · ") }));
  const contact = m.service_contact;
  return h(
    "li",
    { class: "quick-match" },
    h("strong", { text: `${c.name} · ${c.account_number}` }),
    flags.length ? h("span", { class: "quick-flags", text: ` ${flags.join(" · ")}` }) : null,
    verdict,
    h(
      "dl",
      { class: "facts" },
      m.outage ? outageRows(m.outage) : [],
      row("quick.contact", contact ? `${contact.service_contact} · ${contact.service_phone}` : null),
    ),
    places.length ? h("ul", { class: "quick-places" }, places) : h("p", { class: "note", text: t("quick.noPlace") }),
    m.upcoming.length
      ? h("div", { class: "quick-upcoming" }, h("h4", { text: t("quick.upcoming") }), m.upcoming.map((o) => h("dl", { class: "facts" }, outageRows(o))))
      : null,
  );
}

function show(answer) {
  const out = $("#quick-result");
  if (!answer.matches.length) {
    clear(out, h("p", { class: "note", role: "status", text: t("quick.none", { q: answer.query }) }));
    return;
  }
  clear(out, h("ol", { class: "quick-matches", "aria-live": "polite" }, answer.matches.map(match)));
}
