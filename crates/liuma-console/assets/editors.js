// A bucket's lifecycle, CORS and policy editors: the document S3 holds in
// a textarea (XML for lifecycle and CORS, JSON for the policy), a short
// structured summary of what it says, and Save / Remove. Nothing is
// validated here beyond "is it well-formed": the server validates, and its
// refusal is shown in its words (nothing is stored then). An editor whose
// feature the server lacks (NotImplemented) is not shown.
import { api, bpath } from "./api.js";

const KINDS = [
  {
    kind: "lifecycle",
    title: "Lifecycle rules",
    lang: "xml",
    example: `<LifecycleConfiguration>
  <Rule>
    <ID>expire-tmp</ID>
    <Filter><Prefix>tmp/</Prefix></Filter>
    <Status>Enabled</Status>
    <Expiration><Days>7</Days></Expiration>
  </Rule>
</LifecycleConfiguration>`,
  },
  {
    kind: "cors",
    title: "CORS rules",
    lang: "xml",
    example: `<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>https://example.com</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>`,
  },
  {
    kind: "policy",
    title: "Bucket policy",
    lang: "json",
    example: (bucket) =>
      JSON.stringify(
        {
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/*` }],
        },
        null,
        2,
      ),
  },
];

/** Lines that summarise a document (empty when it cannot be read). */
export function summary(kind, text) {
  if (!text.trim()) return [];
  if (kind === "policy") {
    let p;
    try {
      p = JSON.parse(text);
    } catch {
      return [];
    }
    const list = (v) => (Array.isArray(v) ? v : v === undefined ? [] : [v]).join(", ");
    return (Array.isArray(p.Statement) ? p.Statement : [p.Statement]).filter(Boolean).map((s) => {
      const who = typeof s.Principal === "string" ? s.Principal : JSON.stringify(s.Principal || "");
      return `${s.Effect || "?"} ${list(s.Action)} on ${list(s.Resource)} for ${who}`;
    });
  }
  const doc = new DOMParser().parseFromString(text, "application/xml");
  if (doc.querySelector("parsererror")) return [];
  const t = (el, name) => [...el.getElementsByTagName(name)].map((e) => e.textContent).join(", ");
  if (kind === "cors") {
    return [...doc.getElementsByTagName("CORSRule")].map(
      (r) => `${t(r, "AllowedMethod")} from ${t(r, "AllowedOrigin")}${t(r, "AllowedHeader") ? ` (headers ${t(r, "AllowedHeader")})` : ""}`,
    );
  }
  return [...doc.getElementsByTagName("Rule")].map((r) => {
    const what = [];
    const exp = r.getElementsByTagName("Expiration")[0];
    if (exp) what.push(`expire after ${t(exp, "Days") || t(exp, "Date")} days`);
    const nc = r.getElementsByTagName("NoncurrentVersionExpiration")[0];
    if (nc) what.push(`old versions after ${t(nc, "NoncurrentDays")} days`);
    const ab = r.getElementsByTagName("AbortIncompleteMultipartUpload")[0];
    if (ab) what.push(`abort uploads after ${t(ab, "DaysAfterInitiation")} days`);
    const prefix = t(r, "Prefix");
    return `${t(r, "ID") || "rule"} (${t(r, "Status")}): ${prefix ? `keys under ${prefix}: ` : "all keys: "}${what.join("; ") || "no action"}`;
  });
}

/** Well-formed before sending (the server checks the rest). */
function wellFormed(lang, text) {
  if (lang === "json") {
    try {
      JSON.parse(text);
      return "";
    } catch (e) {
      return `Not valid JSON: ${e.message}`;
    }
  }
  const doc = new DOMParser().parseFromString(text, "application/xml");
  return doc.querySelector("parsererror") ? "Not well-formed XML." : "";
}

/** Fill `box` with the editors of `bucket`; `el` builds elements. */
export async function showEditors(box, bucket, el) {
  box.replaceChildren();
  for (const k of KINDS) {
    const id = `ed-${k.kind}`;
    const area = el("textarea", { id, rows: 8, spellcheck: "false", class: "code" });
    const status = el("p", { class: "error", role: "alert", id: `${id}-status` });
    const sum = el("ul", { class: "summary", "aria-label": `${k.title} summary` });
    const section = el(
      "section",
      { class: "editor", "data-kind": k.kind, "aria-labelledby": `${id}-title` },
      el("h3", { id: `${id}-title` }, el("label", { for: id, text: k.title })),
      sum,
      area,
    );
    const refresh = () => {
      const lines = summary(k.kind, area.value);
      sum.replaceChildren(...lines.map((l) => el("li", { text: l })));
      if (!area.value.trim()) sum.append(el("li", { class: "muted", text: "None set." }));
      else if (!lines.length) sum.append(el("li", { class: "muted", text: "No rule could be read from this document." }));
    };
    area.addEventListener("input", refresh);
    const load = async () => {
      const r = await api("GET", bpath(bucket, `config/${k.kind}`));
      section.hidden = !r.supported;
      area.value = r.document ? pretty(k.lang, r.document) : "";
      section.dataset.exists = r.exists ? "1" : "0";
      refresh();
    };
    const save = el("button", { type: "button", text: "Save" });
    const remove = el("button", { type: "button", class: "danger", text: "Remove" });
    const example = el("button", { type: "button", class: "plain", text: "Example" });
    example.addEventListener("click", () => {
      area.value = typeof k.example === "function" ? k.example(bucket) : k.example;
      refresh();
    });
    save.addEventListener("click", async () => {
      status.className = "error";
      status.textContent = wellFormed(k.lang, area.value);
      if (status.textContent) return;
      try {
        await api("PUT", bpath(bucket, `config/${k.kind}`), { document: area.value });
        status.className = "ok";
        status.textContent = "Saved.";
        await load();
      } catch (e) {
        status.textContent = `Not saved: ${e.message}`;
      }
      section.dataset.done = String(Date.now());
    });
    remove.addEventListener("click", async () => {
      try {
        await api("DELETE", bpath(bucket, `config/${k.kind}`));
        status.className = "ok";
        status.textContent = "Removed.";
        await load();
      } catch (e) {
        status.className = "error";
        status.textContent = e.message;
      }
      section.dataset.done = String(Date.now());
    });
    section.append(el("p", { class: "row" }, save, remove, example), status);
    box.append(section);
    try {
      await load();
    } catch (e) {
      section.hidden = false;
      status.textContent = e.message;
    }
  }
}

function pretty(lang, text) {
  if (lang === "json") {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text;
    }
  }
  // one element per line is enough to read S3's compact XML
  return text.replace(/^<\?xml[^>]*>\s*/, "").replace(/></g, ">\n<");
}
