// The --config path checked once at startup: a directory of YAML files, or a single YAML file.
// Later the file source tolerates the path vanishing (a deploy swapping directories), but a
// server started on a path that is not there would serve nothing and only say so on /readyz.
import { statSync } from 'node:fs'

/** Why `path` cannot be used as the configuration, phrased as what to do; undefined when it can. */
export function configPathProblem(path: string): string | undefined {
  let st
  try {
    st = statSync(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return `config path ${path} does not exist; create the directory (mkdir -p ${path}) and put your YAML files in it, or name the directory (or single YAML file) that holds them`
    }
    return `cannot read config path ${path}: ${(err as Error).message}; fix its permissions or name another directory`
  }
  if (st.isDirectory() || st.isFile()) return undefined
  return `config path ${path} is neither a directory nor a regular file; name the directory (or single YAML file) holding your configuration`
}

/** Throws the problem as an Error (the CLI prints `sluice: message` and exits 1). */
export function assertConfigPath(path: string): void {
  const problem = configPathProblem(path)
  if (problem !== undefined) throw new Error(problem)
}
