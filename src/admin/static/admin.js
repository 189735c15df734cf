// keel admin: progressive enhancement only. Every page works without it;
// this adds markdown previews, the reference picker and confirmations.
// No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";

function csrfToken() {
  const input = document.querySelector('input[name="csrf"]');
  return input ? input.value : "";
}

// Markdown preview: the server renders and sanitises, as for readers.
document.querySelectorAll(".js-preview").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.source);
    const target = document.getElementById(button.dataset.source + "-preview");
    const body = new URLSearchParams({ source: source.value, csrf: csrfToken() });
    const response = await fetch("/admin/markdown", {
      method: "POST",
      headers: { "X-CSRF-Token": csrfToken() },
      body,
      credentials: "same-origin",
    });
    // Sanitised by the server (the same sanitiser as published pages).
    target.innerHTML = response.ok ? await response.text() : "";
  });
});

// Reference picker: search the referenced type, click to fill the id.
document.querySelectorAll(".picker-search").forEach((search) => {
  const picker = search.closest(".picker");
  picker.hidden = false;
  const input = document.getElementById(search.dataset.for);
  const results = document.getElementById(search.dataset.for + "-results");
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const url = "/admin/entries/" + encodeURIComponent(search.dataset.to) +
        "/search.json?q=" + encodeURIComponent(search.value);
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return;
      const { items } = await response.json();
      results.replaceChildren(...items.map((item) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        // textContent: titles are data, never markup.
        button.textContent = item.title + " (" + item.slug + ", " + item.status + ")";
        button.addEventListener("click", () => {
          if (input.tagName === "TEXTAREA") {
            input.value = (input.value.trim() ? input.value.trim() + "\n" : "") + item.id;
          } else {
            input.value = item.id;
          }
          input.focus();
        });
        li.append(button);
        return li;
      }));
    }, 200);
  });
});

// A second chance before withdrawing or deleting.
document.querySelectorAll("form.js-confirm").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});

// After a refused save, take the keyboard (and the eye) to the first
// field with a problem.
const firstInvalid = document.querySelector("[aria-invalid=true]");
if (firstInvalid) firstInvalid.focus();
