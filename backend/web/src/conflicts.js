// Sync conflicts queued by the server: both values side by side, resolved by a dispatcher.
import { getAll, post } from "./api.js";
import { $, clear, h } from "./dom.js";
import { fmtTime, onLanguage, t } from "./i18n.js";
import { can } from "./store.js";
import { confirmAction, failed, formDialog, loading, perform } from "./ui.js";

let root;
let visible = false;

export function initConflicts() {
  root = $("#view-conflicts");
  onLanguage(() => visible && showConflicts());
}

export const hideConflicts = () => {
  visible = false;
};

const show = (value) => (value === null || value === undefined ? "—" : typeof value === "string" ? value : JSON.stringify(value));

export async function showConflicts() {
  visible = true;
  const body = h("div");
  clear(root, h("section", { class: "panel" }, h("h2", { text: t("conflicts.title") }), h("p", { class: "note", text: t("conflicts.intro") }), body));
  loading(body);
  let conflicts;
  try {
    conflicts = await getAll("/sync/conflicts", { status: "open" }, 500);
  } catch (error) {
    failed(body, error, showConflicts);
    return;
  }
  if (!conflicts.length) {
    clear(body, h("p", { class: "note", text: t("conflicts.none") }));
    return;
  }
  const rows = conflicts.map((c) => {
    const buttons = can("conflict.resolve")
      ? [
          h("button", { type: "button", text: t("conflicts.takeServer"), onclick: (e) => resolve(c, e.currentTarget, { resolution: "take_server" }) }),
          h("button", { type: "button", text: t("conflicts.takeClient"), onclick: (e) => resolve(c, e.currentTarget, { resolution: "take_client" }) }),
          h("button", { type: "button", text: t("conflicts.edit"), onclick: () => edit(c) }),
        ]
      : [];
    return h(
      "tr",
      { dataset: { id: c.id } },
      h("td", { text: `${c.entity}.${c.field}` }),
      h("td", { class: "mono", text: c.record_id.slice(0, 8) }),
      h("td", { text: c.device }),
      h("td", { class: "value", text: show(c.server) }),
      h("td", { class: "value", text: show(c.client) }),
      h("td", { text: fmtTime(c.created_at) }),
      h("td", { class: "actions" }, buttons),
    );
  });
  const heads = ["conflicts.field", "conflicts.record", "conflicts.device", "conflicts.server", "conflicts.client", "conflicts.at", ""];
  clear(body, h("div", { class: "table-wrap" }, h("table", { class: "conflicts" }, h("thead", {}, h("tr", {}, heads.map((k) => h("th", { text: k ? t(k) : "" })))), h("tbody", {}, rows))));
}

async function resolve(conflict, button, body) {
  const answer = await confirmAction(t("confirm.resolve", { field: `${conflict.entity}.${conflict.field}` }));
  if (!answer.ok) return;
  const done = await perform(button, () => post(`/sync/conflicts/${conflict.id}/resolve`, body), t("conflicts.resolved"));
  if (done) showConflicts();
}

function edit(conflict) {
  const { dialog, form, inputs, error } = formDialog(t("conflicts.edit"), [{ name: "value", label: t("conflicts.value"), type: "textarea", value: show(conflict.server) }], t("common.save"));
  form.onsubmit = async (event) => {
    event.preventDefault();
    let value = inputs.value.value;
    // Structured values are edited as JSON; plain text stays text.
    if (typeof conflict.server !== "string" && conflict.server !== null) {
      try {
        value = JSON.parse(value);
      } catch {
        error.textContent = t("conflicts.badJson");
        return;
      }
    }
    dialog.close("ok");
    const done = await perform(null, () => post(`/sync/conflicts/${conflict.id}/resolve`, { resolution: "edit", value }), t("conflicts.resolved"));
    if (done) showConflicts();
  };
  dialog.showModal();
}
