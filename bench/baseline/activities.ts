/** The baseline's activity: does nothing (hardware at instant speed, no bookkeeping). */
export async function noop(): Promise<void> {}
