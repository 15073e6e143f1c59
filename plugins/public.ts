// What a user plugin imports: `import { definePlugin, object, string, validator } from 'sluice/plugin'`.
// The specifier resolves here wherever Sluice is installed (control/plugins/sluice-specifier.ts).
export * from './api.ts'
export * from './schema.ts'
