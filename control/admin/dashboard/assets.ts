// The dashboard's page, stylesheet and script: plain files in ./assets, read once, served from the
// admin listener with a Content-Security-Policy that allows nothing from elsewhere (no CDN, no
// external font, no inline script). The package's prepack step copies ./assets next to the
// compiled JavaScript, so an installed Sluice finds them at the same relative place.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export interface Asset { body: Buffer; type: string }

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/dashboard/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
}

export const ASSET_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
}

export const ASSET_DIR = fileURLToPath(new URL('./assets/', import.meta.url))

/** The assets by request path, or the error that says which file is missing and why. */
export function loadAssets(dir = ASSET_DIR): Map<string, Asset> | Error {
  const out = new Map<string, Asset>()
  for (const [path, { file, type }] of Object.entries(FILES)) {
    try {
      out.set(path, { body: readFileSync(dir + file), type })
    } catch (err) {
      return new Error(`dashboard asset ${dir}${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); ` +
        'an installed package must ship control/admin/dashboard/assets (package.json prepack copies it to dist/): reinstall Sluice')
    }
  }
  return out
}
