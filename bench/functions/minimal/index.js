// The smallest HTTP function (bench/functions.ts): what the runtime costs, not what the handler does.
export function handle(context) { return `Hello ${context.query.name}\n` }
