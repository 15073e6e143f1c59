// The Python builder, after the Python buildpack: requirements.txt or pyproject.toml → a venv
// inside the snapshot (`python3 -m venv .venv`, then pip), started from a Procfile `web:` line,
// or main.py / app.py.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type BuildPlan, type BuildStep } from './plan.ts'

const PIP_FLAGS = ['--no-input', '--disable-pip-version-check']

export function isPython(dir: string): boolean {
  return ['requirements.txt', 'pyproject.toml', 'main.py', 'app.py'].some((f) => existsSync(join(dir, f)))
}

export function pythonPlan(dir: string, procfileCommand: string | undefined): BuildPlan {
  const requirements = join(dir, 'requirements.txt')
  const hasRequirements = existsSync(requirements)
  const hasProject = existsSync(join(dir, 'pyproject.toml'))
  const venv = hasRequirements || hasProject
  const steps: BuildStep[] = []
  const bin = join(dir, '.venv', 'bin')
  if (venv) {
    steps.push({ file: 'python3', args: ['-m', 'venv', '.venv'] })
    // an empty requirements file still gets its venv, without asking pip for nothing
    if (hasRequirements && hasEntries(readFileSync(requirements, 'utf8'))) steps.push({ file: join(bin, 'pip'), args: ['install', ...PIP_FLAGS, '-r', 'requirements.txt'] })
    if (hasProject) steps.push({ file: join(bin, 'pip'), args: ['install', ...PIP_FLAGS, '.'] })
  }
  const env: Record<string, string> = { PYTHONUNBUFFERED: '1' }
  if (venv) {
    env.VIRTUAL_ENV = join(dir, '.venv')
    env.PATH = `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`
  }
  const python = venv ? join(bin, 'python3') : 'python3'
  if (procfileCommand !== undefined) return { builder: 'python', steps, start: ['/bin/sh', '-c', procfileCommand], env }
  const entry = ['main.py', 'app.py'].find((f) => existsSync(join(dir, f)))
  if (entry === undefined) return { builder: 'python', steps, start: [], startProblem: 'a Python source needs a Procfile with a web: line, or main.py or app.py to start (or a command in the template)', env }
  return { builder: 'python', steps, start: [python, join(dir, entry)], env }
}

function hasEntries(text: string): boolean {
  return text.split(/\r?\n/).some((l) => l.trim() !== '' && !l.trim().startsWith('#'))
}
