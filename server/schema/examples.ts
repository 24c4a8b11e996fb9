// placeholder
export interface Example { route: string; name: string; summary: string; body?: unknown; status: number; answer?: unknown }
export const EXAMPLES: Example[] = [];
