// Colour arithmetic for the settings page: WCAG 2 contrast, and a whole
// chat window palette derived from one brand colour whose text colours are
// readable (WCAG AA for normal text: a contrast of at least 4.5:1).

/** WCAG AA's minimum contrast for normal-size text. */
export const minContrast = 4.5;

/**
 * Parses #rgb or #rrggbb.
 * @param {string} hex
 * @returns {number[]} [r, g, b] in 0..255
 */
export function rgb(hex) {
  let h = hex.replace('#', '');
  if (h.length === 3) h = [...h].map((x) => x + x).join('');
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
}

/** @param {number[]} c [r, g, b] @returns {string} #rrggbb */
export function hex(c) {
  return '#' + c.map((v) => Math.round(Math.min(255, Math.max(0, v))).toString(16).padStart(2, '0')).join('');
}

/**
 * Relative luminance (WCAG 2.x definition, sRGB).
 * @param {string} color #rgb or #rrggbb
 */
export function luminance(color) {
  const [r, g, b] = rgb(color).map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/**
 * Contrast ratio of two colours, 1 to 21.
 * @param {string} a
 * @param {string} b
 */
export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * a mixed with b: t = 0 is a, t = 1 is b.
 * @returns {string} #rrggbb
 */
export function mix(a, b, t) {
  const x = rgb(a);
  const y = rgb(b);
  return hex(x.map((v, i) => v + (y[i] - v) * t));
}

const white = '#ffffff';
const ink = '#0f172a';
const black = '#000000';

/**
 * A readable text colour on bg: white or the page's ink, whichever
 * contrasts more, or black when neither reaches 4.5:1 (one of white and
 * black always does).
 * @param {string} bg
 */
export function textOn(bg) {
  const w = contrast(white, bg);
  const k = contrast(ink, bg);
  if (w >= k && w >= minContrast) return white;
  if (k >= minContrast) return ink;
  return w >= contrast(black, bg) ? white : black;
}

/**
 * The darkest needed shade of tint (mixed towards black) that reaches
 * 4.5:1 on bg; keeps the brand's hue in the introduction text.
 */
function shadeOn(tint, bg) {
  for (let t = 0; t <= 1.0001; t += 0.05) {
    const c = mix(tint, black, Math.min(t, 1));
    if (contrast(c, bg) >= minContrast) return c;
  }
  return textOn(bg);
}

/**
 * The chat window's eleven colours from one brand colour: header, send
 * button and the visitor's bubbles in the brand colour; light tints of it
 * behind the introduction, the business's bubbles and the input bar; each
 * text colour checked to reach 4.5:1 on its background.
 * @param {string} brand #rgb or #rrggbb
 * @returns {Record<string, string>} the Chatbot's colour fields
 */
export function derivePalette(brand) {
  const b = hex(rgb(brand));
  const onBrand = textOn(b);
  const introBg = mix(b, white, 0.88);
  const recvBg = mix(b, '#f1f5f9', 0.9);
  const inputBg = mix(b, '#f8fafc', 0.95);
  return {
    headerBackgroundColor: b,
    headerTextColor: onBrand,
    introductionBackgroundColor: introBg,
    introductionTextColor: shadeOn(b, introBg),
    senderBackground: b,
    senderTextColor: onBrand,
    receiverBackground: recvBg,
    receiverTextColor: contrast(ink, recvBg) >= minContrast ? ink : textOn(recvBg),
    background_color: white,
    inputBarBackground: inputBg,
    inputTextColor: contrast(ink, inputBg) >= minContrast && contrast(ink, white) >= minContrast ? ink : textOn(inputBg),
  };
}

/** Text colour → the backgrounds it is read on, in the chat window. */
export const textPairs = [
  ['headerTextColor', 'headerBackgroundColor'],
  ['introductionTextColor', 'introductionBackgroundColor'],
  ['senderTextColor', 'senderBackground'],
  ['receiverTextColor', 'receiverBackground'],
  ['inputTextColor', 'inputBarBackground'],
  ['inputTextColor', 'background_color'],
];

/**
 * The text/background pairs of a palette below 4.5:1.
 * @param {Record<string, string>} p
 * @returns {{text: string, bg: string, ratio: number}[]}
 */
export function lowContrast(p) {
  const out = [];
  for (const [text, bg] of textPairs) {
    if (!p[text] || !p[bg]) continue;
    const ratio = contrast(p[text], p[bg]);
    if (ratio < minContrast) out.push({ text, bg, ratio });
  }
  return out;
}
