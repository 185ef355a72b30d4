// @ts-check
// Draws the app's two logos (a pair of speech bubbles: the customer's chat and the agent's reply)
// into public/assets/. Run it again only to change the artwork; the PNGs are committed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { encodePng } from './lib/png.mjs';

const BLUE = [31, 115, 183]; // Garden blue-600, the app's primary colour
const LIGHT = [206, 226, 242];
const WHITE = [255, 255, 255];
/** Samples per pixel side, for smooth edges. */
const SS = 4;

/**
 * A rounded rectangle with a little tail at a bottom corner, in unit coordinates (0..1).
 * @param {number} x @param {number} y
 * @param {{ x0: number, y0: number, x1: number, y1: number, r: number, tail: 'left' | 'right' }} b
 */
function inBubble(x, y, b) {
  const cx = Math.min(Math.max(x, b.x0 + b.r), b.x1 - b.r);
  const cy = Math.min(Math.max(y, b.y0 + b.r), b.y1 - b.r);
  if ((x - cx) ** 2 + (y - cy) ** 2 <= b.r ** 2) return true;
  // The tail: a triangle hanging under the bubble near one side.
  const h = 0.1;
  if (y < b.y1 - 0.01 || y > b.y1 + h) return false;
  const t = (y - b.y1) / h; // 0 at the bubble, 1 at the tip
  const base0 = b.tail === 'left' ? b.x0 + 0.08 : b.x1 - 0.2;
  const base1 = base0 + 0.12;
  const tip = b.tail === 'left' ? b.x0 + 0.05 : b.x1 - 0.05;
  const left = base0 + (Math.min(tip, base0) - base0) * t;
  const right = base1 + (Math.max(tip, base1) - base1) * t;
  return x >= left && x <= right;
}

/**
 * @param {number} size
 * @param {{ background: number[] | null, back: number[], front: number[] }} colours
 */
function draw(size, colours) {
  const back = { x0: 0.14, y0: 0.18, x1: 0.66, y1: 0.56, r: 0.1, tail: /** @type {const} */ ('left') };
  const front = { x0: 0.36, y0: 0.42, x1: 0.86, y1: 0.76, r: 0.1, tail: /** @type {const} */ ('right') };
  const rgba = new Uint8Array(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const x = (px + (sx + 0.5) / SS) / size;
          const y = (py + (sy + 0.5) / SS) / size;
          const c = inBubble(x, y, front) ? colours.front : inBubble(x, y, back) ? colours.back : colours.background;
          if (c) { r += c[0] ?? 0; g += c[1] ?? 0; b += c[2] ?? 0; a += 255; }
        }
      }
      const n = SS * SS, i = (py * size + px) * 4;
      // Colours are averaged over covered samples only, so edges fade in alpha, not to black.
      const covered = a / 255;
      rgba[i] = covered ? Math.round(r / covered) : 0;
      rgba[i + 1] = covered ? Math.round(g / covered) : 0;
      rgba[i + 2] = covered ? Math.round(b / covered) : 0;
      rgba[i + 3] = Math.round(a / n);
    }
  }
  return encodePng(size, size, rgba);
}

const out = new URL('../public/assets/', import.meta.url);
mkdirSync(out, { recursive: true });
// Large icon: full square, no rounded corners (Zendesk rounds it itself).
writeFileSync(new URL('logo.png', out), draw(320, { background: BLUE, back: LIGHT, front: WHITE }));
// Small icon: transparent background.
writeFileSync(new URL('logo-small.png', out), draw(128, { background: null, back: LIGHT, front: BLUE }));
console.log('wrote public/assets/logo.png (320×320) and logo-small.png (128×128)');
