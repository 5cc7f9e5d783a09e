// In-browser previews, all through the console's object URL (session
// cookie; Range passed on to S3, so media seek and PDFs load in pieces).
// The server serves only inert types inline (images but not SVG, PDF,
// audio, video, text as text/plain) under `CSP: sandbox`; anything else is
// not previewed here.
const IMAGE = /^image\/(png|jpeg|gif|webp|avif)$/;
const VIDEO = /^video\/(mp4|webm)$/;
const AUDIO = /^audio\/(mpeg|ogg|wav)$/;
const TEXT = /^text\/|^application\/(json|xml|javascript)$/;
const TEXT_BYTES = 65536;

/** The kind of preview for a content type, or "" for none. */
export function kindOf(contentType) {
  const t = (contentType || "").split(";")[0].trim().toLowerCase();
  if (IMAGE.test(t)) return "image";
  if (VIDEO.test(t)) return "video";
  if (AUDIO.test(t)) return "audio";
  if (t === "application/pdf") return "pdf";
  if (TEXT.test(t)) return "text";
  return "";
}

/** Put a preview of the object at `src` into `box`. */
export async function preview(box, src, meta, name, el) {
  box.replaceChildren();
  const kind = kindOf(meta.content_type);
  box.dataset.kind = kind;
  if (kind === "image") {
    box.append(el("img", { src, alt: `Preview of ${name}` }));
  } else if (kind === "video") {
    box.append(el("video", { src, controls: true, preload: "metadata", "aria-label": `Video ${name}` }));
  } else if (kind === "audio") {
    box.append(el("audio", { src, controls: true, preload: "metadata", "aria-label": `Audio ${name}` }));
  } else if (kind === "pdf") {
    box.append(el("iframe", { src, title: `PDF ${name}`, class: "pdf" }));
  } else if (kind === "text") {
    const r = await fetch(src, { headers: { range: `bytes=0-${TEXT_BYTES - 1}` } });
    const text = r.ok ? await r.text() : "";
    box.append(el("pre", { text: text + (meta.size > TEXT_BYTES ? "\n…" : ""), tabindex: "0", "aria-label": `Start of ${name}` }));
  } else {
    box.append(el("p", { class: "muted", text: "No preview for this type: download it." }));
  }
}
