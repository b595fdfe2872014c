// "Is my line out?": the call center's quick query (account number, phone, name or address).
// One call to GET /quick-query answers per matching customer: out now or not, since and until
// when, why, announced outages and the region's service contact.
import { get, offers } from "./api.js";
import { newOrderFor } from "./neworder.js";
import { $, clear, h } from "./dom.js";
import { fmtTime, label, onLanguage, t } from "./i18n.js";
import { can, emit } from "./store.js";
import { failed, loading, perform } from "./ui.js";

let last = null; // the last answer, redrawn when the language changes
const taken = new Map(); // premise id -> {order, outage}: orders taken from this answer

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
    taken.clear();
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
  const places = m.places.map((p) =>
    h(
      "li",
      { dataset: { premise: p.premise_id } },
      h("span", { text: [p.address, p.line?.name ?? p.line_name, p.area?.name].filter(Boolean).join(" · ") }),
      can("order.create") && p.premise_id ? h("button", { type: "button", class: "new-order-here", text: t("quick.newOrder"), onclick: (e) => orderHere(e.currentTarget, c, p) }) : null,
      takenNote(p.premise_id),
    ),
  );
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

function takenNote(premiseId) {
  const done = taken.get(premiseId);
  if (!done) return null;
  const { order, outage } = done;
  return h("p", { class: "quick-taken", dataset: { linked: outage ? "yes" : "no" }, text: outage ? t("quick.linked", { n: order.number, outage }) : t("quick.notLinked", { n: order.number }) });
}

// "New order" from a match: the customer's file gives the premise's location and a phone.
async function orderHere(button, customer, place) {
  const file = await perform(button, () => get(`/customers/${customer.id}`));
  if (!file) return;
  const premise = (file.premises || []).find((p) => p.id === place.premise_id) || { id: place.premise_id, address: place.address };
  const result = await newOrderFor(file, premise);
  if (!result) return;
  taken.set(place.premise_id, result);
  if (last) show(last);
}
