// The default admission/settlement hooks: admit everything, record nothing. The metering work
// (rate limits, budget reservations, usage events) replaces these through createRouter's options.
import type { Hooks } from "../core/request-context.ts";

const admitted = Promise.resolve();

export const noopHooks: Hooks = {
  admit: () => admitted,
  settle: () => {},
};
