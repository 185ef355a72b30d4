// @ts-check
// Just enough PNG: write an 8-bit RGBA image, and read a file's size and colour type back.
import { crc32, deflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** PNG colour types that carry an alpha channel (greyscale+alpha, RGBA). */
const ALPHA_COLOUR_TYPES = new Set([4, 6]);

/**
 * Encodes RGBA pixels (row-major, 4 bytes each) as a PNG.
 * @param {number} width
 * @param {number} height
 * @param {Uint8Array} rgba
 * @returns {Buffer}
 */
export function encodePng(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  // compression, filter, interlace: all 0
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    Buffer.from(rgba.buffer, rgba.byteOffset + y * stride, stride).copy(raw, y * (stride + 1) + 1);
  }
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * Reads the IHDR of a PNG, or returns null when the bytes are not a PNG.
 * @param {Uint8Array} bytes
 * @returns {{ width: number, height: number, hasAlpha: boolean } | null}
 */
export function readPngHeader(bytes) {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 33 || !b.subarray(0, 8).equals(SIGNATURE)) return null;
  if (b.toString('latin1', 12, 16) !== 'IHDR') return null;
  const colourType = b[25] ?? 0;
  return {
    width: b.readUInt32BE(16),
    height: b.readUInt32BE(20),
    // A palette image with a tRNS chunk is transparent too.
    hasAlpha: ALPHA_COLOUR_TYPES.has(colourType) || (colourType === 3 && b.includes('tRNS')),
  };
}

/**
 * @param {string} type
 * @param {Buffer} data
 */
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
