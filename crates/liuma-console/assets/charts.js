// Line charts drawn by hand in SVG (no chart library): one <figure> per
// chart, a polyline per series scaled to the chart's own maximum, the
// latest value in the caption and in the SVG's label for screen readers.
const NS = "http://www.w3.org/2000/svg";
const W = 300;
const H = 100;

function svg(tag, attrs) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/**
 * Draw (or redraw) the chart `id` in `box`.
 * spec: {title, fmt(v) → text, series: [{name, values: [number|null]}]}
 */
export function chart(box, id, spec) {
  let fig = box.querySelector(`figure[data-chart="${id}"]`);
  if (!fig) {
    fig = document.createElement("figure");
    fig.dataset.chart = id;
    const cap = document.createElement("figcaption");
    const t = document.createElement("span");
    t.textContent = spec.title;
    const now = document.createElement("span");
    now.className = "now";
    cap.append(t, now);
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
    const legend = document.createElement("div");
    legend.className = "legend";
    for (const [i, ser] of spec.series.entries()) {
      const k = document.createElement("span");
      const sw = document.createElement("i");
      sw.className = `k${i}`;
      k.append(sw, ser.name);
      legend.append(k);
    }
    fig.append(cap, s, legend);
    box.append(fig);
  }
  fig.querySelector("figcaption span").textContent = spec.title;
  const s = fig.querySelector("svg");
  const all = spec.series.flatMap((x) => x.values.filter((v) => v !== null && Number.isFinite(v)));
  const max = Math.max(1e-9, ...all) * 1.1;
  const n = Math.max(...spec.series.map((x) => x.values.length), 2);
  s.replaceChildren(svg("line", { class: "axis", x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }));
  let count = 0;
  for (const [i, ser] of spec.series.entries()) {
    const pts = [];
    ser.values.forEach((v, j) => {
      if (v === null || !Number.isFinite(v)) return;
      const x = (j / (n - 1)) * W;
      const y = H - (v / max) * (H - 4) - 1;
      pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    });
    count = Math.max(count, pts.length);
    s.append(svg("polyline", { class: `line l${i}`, points: pts.join(" ") }));
  }
  fig.dataset.points = String(count);
  const latest = spec.series.map((ser) => {
    const v = [...ser.values].reverse().find((x) => x !== null && Number.isFinite(x));
    return v === undefined ? "–" : spec.fmt(v);
  });
  const now = latest.join(" / ");
  fig.querySelector(".now").textContent = now;
  s.setAttribute("aria-label", `${spec.title}: now ${now}; ${count} points, highest ${spec.fmt(max / 1.1)}`);
}
