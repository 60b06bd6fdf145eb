// Small line icons as SVG elements built with DOM calls (no innerHTML, no emoji glyphs that a
// machine without an emoji font would show as boxes). Each is 24×24, stroked in currentColor.

const PATHS = {
  copy: ["M9 9h10v10H9z", "M5 15V5h10"],
  edit: ["M4 20h4L19 9l-4-4L4 16z", "M13 7l4 4"],
  regenerate: ["M20 12a8 8 0 1 1-2.3-5.7", "M20 4v5h-5"],
  delete: ["M5 7h14", "M10 7V4h4v3", "M7 7l1 13h8l1-13"],
  close: ["M6 6l12 12", "M18 6L6 18"],
  menu: ["M4 7h16", "M4 12h16", "M4 17h16"],
  link: ["M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1", "M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"],
  attach: ["M20 11l-8 8a5 5 0 0 1-7-7l9-9a3.5 3.5 0 0 1 5 5l-9 9a2 2 0 0 1-3-3l8-8"],
};

const SVG = "http://www.w3.org/2000/svg";

export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.classList.add("icon-svg");
  for (const d of PATHS[name] || []) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}
