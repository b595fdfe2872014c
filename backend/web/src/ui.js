// Toasts that stay until dismissed (errors) or read (success), confirmations and busy buttons.
import { $, clear, h } from "./dom.js";
import { t } from "./i18n.js";

const MAX_TOASTS = 5;

// Toasts stay until dismissed, so a result can always be read; the oldest go beyond five.
export function toast(kind, message, { persist = true, seconds = 8 } = {}) {
  const close = h("button", { type: "button", class: "toast-close", "aria-label": t("common.dismiss"), text: "×" });
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, h("span", { text: message }), close);
  close.addEventListener("click", () => item.remove());
  const box = $("#toasts");
  box.append(item);
  while (box.childElementCount > MAX_TOASTS) box.firstElementChild.remove();
  if (!persist) setTimeout(() => item.remove(), seconds * 1000);
  return item;
}

export const errorText = (error) => (error && error.message) || String(error);

// Ask before something hard to undo; with `reason`, a reason must be typed.
export function confirmAction(text, { reason = false } = {}) {
  const dialog = $("#confirm-dialog");
  const input = $("#confirm-reason");
  $("#confirm-text").textContent = text;
  $("#confirm-reason-label").hidden = !reason;
  input.value = "";
  input.required = reason;
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve(dialog.returnValue === "ok" ? { ok: true, reason: input.value.trim() } : { ok: false }),
      { once: true },
    );
    dialog.showModal();
    (reason ? input : $("#confirm-ok")).focus();
  });
}

// Run an action from a button: disabled while running, toast on success or failure.
export async function perform(button, action, success) {
  if (button) {
    button.disabled = true;
    button.classList.add("busy");
  }
  try {
    const result = await action();
    if (success) toast("success", success);
    return result;
  } catch (error) {
    toast("error", errorText(error));
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.classList.remove("busy");
    }
  }
}

// A list region's loading / error / empty states.
export function loading(el) {
  clear(el, h("p", { class: "note loading", text: t("common.loading") }));
}

export function failed(el, error, retry) {
  const button = retry ? h("button", { type: "button", text: t("common.retry"), onclick: retry }) : null;
  clear(el, h("p", { class: "error", role: "alert" }, `${t("common.failed")}: ${errorText(error)} `, button));
}

// A modal form built from fields [{name, label, type, options, required, value}].
export function formDialog(title, fields, submitLabel) {
  const dialog = $("#form-dialog");
  const inputs = {};
  const rows = fields.map((f) => {
    let input;
    if (f.type === "select") {
      input = h("select", { name: f.name, required: f.required }, f.options.map(([v, text]) => h("option", { value: v, text, selected: String(v) === String(f.value ?? "") })));
    } else if (f.type === "textarea") {
      input = h("textarea", { name: f.name, rows: 3, required: f.required, maxlength: f.maxlength });
      input.value = f.value ?? "";
    } else if (f.type === "checkbox") {
      input = h("input", { type: "checkbox", name: f.name, checked: Boolean(f.value) });
    } else {
      input = h("input", { type: f.type || "text", name: f.name, required: f.required, step: f.step, min: f.min, max: f.max, maxlength: f.maxlength, placeholder: f.placeholder });
      input.value = f.value ?? "";
    }
    inputs[f.name] = input;
    return h("label", { class: f.type === "checkbox" ? "check" : "" }, h("span", { text: f.label }), input);
  });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { method: "dialog", class: "grid-form" },
    h("h2", { text: title }),
    rows,
    error,
    h("menu", {}, h("button", { value: "cancel", type: "button", text: t("common.cancel"), onclick: () => dialog.close("cancel") }), h("button", { value: "ok", type: "submit", class: "primary", text: submitLabel })),
  );
  clear(dialog, form);
  return { dialog, form, inputs, error };
}
