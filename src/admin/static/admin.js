// keel admin: progressive enhancement only. Every page works without it;
// this adds markdown previews, the reference and image pickers and
// confirmations.
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

// Image picker: search the library through the API (a session may read
// it), click a picture to place it. A single image's alt text, caption
// and credit start from the library's when empty; a gallery gets a line.
function smallest(media) {
  const webp = media.variants.filter((v) => v.format === "image/webp");
  const all = webp.length ? webp : media.variants;
  return all.length ? all.reduce((a, b) => (b.width < a.width ? b : a)) : null;
}

function showChosen(img, media) {
  const variant = smallest(media);
  if (!variant) return;
  img.src = variant.path;
  img.width = variant.width;
  img.height = variant.height;
  img.hidden = false;
}

async function mediaById(id) {
  try {
    const response = await fetch("/api/v1/media/" + encodeURIComponent(id), { credentials: "same-origin" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

document.querySelectorAll(".image-search").forEach((search) => {
  const picker = search.closest(".image-picker");
  picker.hidden = false;
  const target = document.getElementById(search.dataset.for);
  const gallery = target.tagName === "TEXTAREA";
  const results = document.getElementById(search.dataset.for + "-found");
  const chosen = document.getElementById(search.dataset.for + "-chosen");
  const part = (name) => document.getElementById(search.dataset.for + "-" + name);
  if (!gallery && part("media").value.trim()) {
    mediaById(part("media").value.trim()).then((media) => { if (media) showChosen(chosen, media); });
  }
  const place = (media) => {
    if (gallery) {
      // Without library alt text the line has none, and the save names
      // the missing alt rather than publishing an empty one.
      const item = media.alt ? { media: media.id, alt: media.alt } : { media: media.id };
      const line = JSON.stringify(item);
      target.value = (target.value.trim() ? target.value.trim() + "\n" : "") + line;
      target.focus();
      return;
    }
    part("media").value = media.id;
    for (const name of ["alt", "caption", "credit"]) {
      if (!part(name).value.trim() && media[name]) part(name).value = media[name];
    }
    showChosen(chosen, media);
    part("alt").focus();
  };
  const say = (text) => {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = text;
    results.replaceChildren(li);
  };
  let timer = null;
  let asked = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      // Only the latest search's answer is shown, whatever order they come in.
      const mine = ++asked;
      let items;
      try {
        const response = await fetch("/api/v1/media?limit=12&q=" + encodeURIComponent(search.value.trim()),
          { credentials: "same-origin" });
        if (mine !== asked) return;
        if (!response.ok) {
          say(response.status === 401 ? "Your session has ended; sign in again to search."
            : "The library could not be searched (" + response.status + "); try again.");
          return;
        }
        items = (await response.json()).items.filter((m) => smallest(m));
      } catch {
        if (mine === asked) say("The library could not be reached; try again.");
        return;
      }
      if (mine !== asked) return;
      if (!items.length) {
        say("No image matches.");
        return;
      }
      results.replaceChildren(...items.map((media) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        const img = document.createElement("img");
        const variant = smallest(media);
        img.src = variant.path;
        img.width = variant.width;
        img.height = variant.height;
        img.alt = "";
        img.loading = "lazy";
        // textContent: names and alt text are data, never markup.
        const label = document.createElement("span");
        label.textContent = media.name + (media.alt ? ": " + media.alt : "");
        button.append(img, label);
        button.addEventListener("click", () => place(media));
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
