// Debian's chromium driven by playwright-core, for the dashboard tests. No browser is ever
// downloaded: a missing chromium fails the test with the command that installs it.
import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { ROOT } from '../fixtures/sluice.ts'

export const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium'

/** Screenshots the tests keep (gitignored): test/artifacts/. */
export const ARTIFACTS = path.join(ROOT, 'test/artifacts')

export function artifact(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true })
  return path.join(ARTIFACTS, name)
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM}: the dashboard tests drive Debian's chromium through playwright-core; ` +
      'install it with `apt-get install chromium` (.ci/run does), or set SLUICE_CHROMIUM to a Chromium binary')
  }
  // root in a container has no user namespace for Chromium's sandbox
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 })
}
