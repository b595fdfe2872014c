// The call center takes a call: a new order, issued to a repair center at once or later.
import { get, offers, post } from "./api.js";
import { $, clear, h } from "./dom.js";
import { label, t } from "./i18n.js";
import { can, emit, putOrder, state } from "./store.js";
import { formDialog, perform, toast } from "./ui.js";

const SPECIALTIES = ["low_voltage", "meters", "10kv", "water"];

let pickOnMap = null;

export function initNewOrder(pickPoint) {
  const button = $("#new-order-button");
  pickOnMap = pickPoint;
  button.hidden = !can("order.create");
  button.onclick = () => open(pickPoint);
}

// A new order for a customer found elsewhere (the quick query): prefilled with the customer's
// number, the premise's address and location; resolves to {order, outage} once taken (outage:
// the number of the outage the API linked the order to, or null), or null when cancelled.
export function newOrderFor(customer, premise) {
  return new Promise((resolve) => open(pickOnMap, { customer, premise, resolve }));
}

function open(pickPoint, prefill = null) {
  const centers = state.repairCenters;
  const { dialog, form, inputs, error } = formDialog(
    t("orders.new"),
    [
      { name: "order_type", label: t("newOrder.type"), type: "select", options: ["electric", "water"].map((v) => [v, label("orderType", v)]) },
      { name: "specialty", label: t("newOrder.specialty"), type: "select", options: SPECIALTIES.map((v) => [v, label("specialty", v)]) },
      { name: "priority", label: t("newOrder.priority"), type: "select", value: 2, options: [1, 2, 3].map((v) => [v, label("priority", v)]) },
      { name: "fault_type", label: t("newOrder.fault"), required: true, maxlength: 64, placeholder: t("newOrder.faultHint") },
      { name: "caller_name", label: t("newOrder.callerName"), maxlength: 200 },
      { name: "caller_phone", label: t("newOrder.callerPhone"), type: "tel", maxlength: 32 },
      { name: "address", label: t("newOrder.address"), maxlength: 400 },
      { name: "lon", label: t("newOrder.lon"), type: "number", step: "any", min: -180, max: 180 },
      { name: "lat", label: t("newOrder.lat"), type: "number", step: "any", min: -90, max: 90 },
      { name: "description", label: t("newOrder.description"), type: "textarea", maxlength: 4000 },
      { name: "repair_center_id", label: t("newOrder.issueTo"), type: "select", value: centers[0]?.id ?? "", options: [["", t("newOrder.issueLater")], ...centers.map((d) => [d.id, d.name])] },
    ],
    t("newOrder.submit"),
  );
  const pick = h("button", { type: "button", text: t("newOrder.pick") });
  pick.onclick = () => {
    dialog.close("pick");
    pickPoint((lon, lat) => {
      inputs.lon.value = lon.toFixed(6);
      inputs.lat.value = lat.toFixed(6);
      dialog.showModal();
    });
  };
  inputs.lat.closest("label").after(pick);
  const chosen = { customer_id: null, premise_id: null };
  const lookup = offers("get", "/customers") ? customerLookup(inputs, chosen) : null;
  if (lookup) form.querySelector("h2").after(lookup.box);
  if (prefill) {
    lookup?.pick(prefill.customer, prefill.premise);
    const closed = () => {
      if (dialog.returnValue === "pick") return; // back after a point is picked on the map
      dialog.removeEventListener("close", closed);
      if (dialog.returnValue !== "ok") prefill.resolve(null);
    };
    dialog.addEventListener("close", closed);
  }
  form.onsubmit = async (event) => {
    event.preventDefault();
    const lon = inputs.lon.value === "" ? null : Number(inputs.lon.value);
    const lat = inputs.lat.value === "" ? null : Number(inputs.lat.value);
    if ((lon === null) !== (lat === null)) {
      error.textContent = t("newOrder.bothCoords");
      return;
    }
    const body = {
      order_type: inputs.order_type.value,
      specialty: inputs.specialty.value,
      priority: Number(inputs.priority.value),
      fault_type: inputs.fault_type.value.trim(),
      caller_name: inputs.caller_name.value.trim() || null,
      caller_phone: inputs.caller_phone.value.trim() || null,
      address: inputs.address.value.trim() || null,
      description: inputs.description.value.trim() || null,
      location: lon === null ? null : { lon, lat },
      ...(chosen.customer_id ? { customer_id: chosen.customer_id } : {}),
      ...(chosen.premise_id ? { premise_id: chosen.premise_id } : {}),
      hung_up_at: new Date().toISOString(),
      ...(inputs.repair_center_id.value ? { repair_center_id: Number(inputs.repair_center_id.value) } : {}),
    };
    const submit = form.querySelector("button[type=submit]");
    const order = await perform(submit, () => post("/work-orders", body));
    if (!order) return;
    dialog.close("ok");
    putOrder(order);
    emit("select", order.id);
    // A call from under an active outage is linked to it (a `linked_outage` event), not issued.
    let outage = null;
    if (order.customer_id || order.premise_id) {
      try {
        const events = await get(`/work-orders/${order.id}/events`);
        outage = events.find((e) => e.point === "linked_outage")?.details?.outage ?? null;
      } catch {
        /* the order is taken; the link shows on its timeline */
      }
    }
    toast("success", outage ? t("done.linkedOutage", { n: order.number, outage }) : t(order.repair_center_id ? "done.createIssued" : "done.create", { n: order.number }));
    prefill?.resolve({ order, outage });
  };
  dialog.showModal();
}

// Find the caller in the customer archive by account number, phone, name or address; picking a
// premise fills the caller, address and location and links the order to the customer file.
function customerLookup(inputs, chosen) {
  const query = h("input", { type: "search", name: "customer_q", maxlength: 200, placeholder: t("newOrder.customerHint") });
  const results = h("ul", { class: "customer-results" });
  const linked = h("span", { class: "note" });
  const find = h("button", { type: "button", text: t("newOrder.find") });
  const search = async () => {
    const q = query.value.trim();
    if (!q) return;
    find.disabled = true;
    clear(results, h("li", { class: "note loading", text: t("common.loading") }));
    try {
      const customers = await get("/customers", { q, page_size: 8 });
      const items = customers.flatMap((c) => (c.premises?.length ? c.premises : [null]).map((p) => ({ c, p })));
      clear(results, items.length ? items.map(({ c, p }) => h("li", {}, h("button", { type: "button", class: "link", text: `${c.account_number} · ${c.name} · ${p?.address ?? "—"}`, onclick: () => pick(c, p) }))) : h("li", { class: "note", text: t("newOrder.noCustomer") }));
    } catch (error) {
      clear(results, h("li", { class: "error", text: error.message }));
    } finally {
      find.disabled = false;
    }
  };
  const pick = (customer, premise) => {
    chosen.customer_id = customer.id;
    chosen.premise_id = premise?.id ?? null;
    const phone = (customer.contacts || []).map((c) => c.phone).find(Boolean);
    if (!inputs.caller_name.value) inputs.caller_name.value = customer.name;
    if (!inputs.caller_phone.value && phone && !phone.includes("*")) inputs.caller_phone.value = phone;
    if (premise?.address) inputs.address.value = premise.address;
    if (premise?.location?.lon !== undefined) {
      inputs.lon.value = premise.location.lon;
      inputs.lat.value = premise.location.lat;
    }
    linked.textContent = t("newOrder.linked", { account: customer.account_number });
    clear(results);
  };
  find.onclick = search;
  query.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      search();
    }
  });
  return { box: h("div", { class: "customer-lookup" }, h("label", {}, h("span", { text: t("newOrder.customer") }), h("span", { class: "row" }, query, find)), linked, results), pick };
}
